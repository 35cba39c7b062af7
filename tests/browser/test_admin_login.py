"""Logging in to the admin site in a real browser."""
from browsing import screenshot


def test_an_admin_logs_in_sees_the_navigation_and_logs_out(site):
    page = site.login("admin")
    assert page.locator("header nav").is_visible()
    assert "admin-1" in page.inner_text("header")
    screenshot(page, "dashboard-after-login")
    page.click("text=Log out")
    page.wait_for_url(site.admin + "/login")
    page.goto(site.admin + "/users/")
    assert page.url.startswith(site.admin + "/login")  # logged out: back to the login page


def test_a_wrong_password_shows_the_form_again_with_the_reason(site):
    page = site.page()
    page.goto(site.admin + "/login")
    page.fill("input[name=name]", "viewer-1")
    page.fill("input[name=password]", "not it")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text("main")
    assert page.input_value("input[name=name]") == "viewer-1"
