"""Logging in and out, roles checked on the server, CSRF, throttled logins, headers, the CLI."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from admin_site.auth import PUBLIC
from helpers import ROOT


def test_login_then_pages_then_logout(client_as):
    client = client_as()
    assert client.get("/").status_code == 302  # not logged in: to the login page
    answer = client.login("viewer")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "viewer" in page.get_data(as_text=True)
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_a_logged_out_session_stays_out_when_its_old_cookie_comes_back(client_as):
    """A response to a request still in flight at logout (a chart's data, the favicon) sets the old
    session cookie again: the server no longer takes it."""
    client = client_as("viewer")
    old = client.http.get_cookie("switchboard_admin").value
    assert client.post("/logout").status_code == 302
    client.http.set_cookie("switchboard_admin", old)
    assert client.get("/").status_code == 302  # to the login page


def test_the_session_cookie_is_httponly_and_samesite_lax_and_secure_only_over_https(app, services):
    from admin_site import create_app
    from adminclient import make_settings

    cookie = _login_cookie(app)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    services.settings = make_settings(base_url="https://admin.example.com")
    assert "Secure" in _login_cookie(create_app(services=services))


def _login_cookie(app) -> str:
    from adminclient import PASSWORD, Client

    client = Client(app)
    answer = client.http.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf_token": client.token()})
    return answer.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_with_the_form_filled_and_no_hint_which_part_was_wrong(client_as):
    client = client_as()
    answer = client.login("viewer", "not the password")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 401 and "Wrong user name or password" in page and 'value="viewer"' in page
    assert client.login("nobody", "whatever").status_code == 401


def test_the_sixth_failed_login_within_a_minute_is_429_with_retry_after(client_as):
    client = client_as()
    for _ in range(5):
        assert client.login("admin", "wrong").status_code == 401
    blocked = client.login("admin", "correct horse battery")  # even the right password, now
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in blocked.get_data(as_text=True)


def test_failed_logins_are_counted_per_client_address_too(client_as):
    client = client_as()
    for name in ("a1", "a2", "a3", "a4", "a5"):  # five different accounts from one address
        client.login(name, "wrong")
    assert client.login("viewer").status_code == 429


def test_a_disabled_users_session_stops_working_at_the_next_request(client_as, services):
    client = client_as("editor")
    assert client.get("/").status_code == 200
    services.accounts.update("editor", disabled=True)
    assert client.get("/").status_code == 302
    assert client.login("editor").status_code == 401


def test_a_form_without_the_csrf_token_is_refused(client_as):
    client = client_as("admin")
    answer = client.http.post("/logout")
    assert answer.status_code == 400 and "security token" in answer.get_data(as_text=True)
    fetched = client.http.post("/logout", headers={"X-CSRFToken": "forged"})
    assert fetched.status_code == 400


def test_every_route_requires_a_role_on_the_server_unless_it_is_public(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        assert rule.endpoint == "static" or getattr(view, PUBLIC, False) or hasattr(view, "required_role"), \
            f"{rule.rule} ({rule.endpoint}) checks no role"


def test_every_page_sends_a_content_security_policy_with_no_inline_script(client_as):
    answer = client_as("viewer").get("/")
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in answer.get_data(as_text=True)  # no inline script in the page itself
    assert answer.headers["X-Frame-Options"] == "DENY"


@pytest.mark.stack
def test_create_user_reads_the_password_from_stdin_never_the_command_line(tmp_path):
    env = {**os.environ, "ADMIN_SECRET_KEY": "x" * 40, "COSMOS_ENDPOINT": "", "PYTHONPATH":
           os.pathsep.join([str(ROOT), str(ROOT / "function_app")])}
    done = subprocess.run([sys.executable, "-m", "admin_site", "create-user", "ann", "--role", "admin"],
                          input="a good long password\n", capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "created admin ann" in done.stdout and "a good long password" not in done.stdout + done.stderr
    short = subprocess.run([sys.executable, "-m", "admin_site", "create-user", "bob", "--role", "admin"],
                           input="short\n", capture_output=True, text=True, env=env, cwd=ROOT)
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    refused = subprocess.run([sys.executable, "-m", "admin_site", "create-user", "bob", "--password", "x"],
                             capture_output=True, text=True, env=env, cwd=ROOT)
    assert refused.returncode == 2  # there is no way to pass it as an argument
