"""The admin site has an icon: every page links it, and /favicon.ico (which browsers ask for anyway)
leads to it, so no page logs a 404 in the browser's console."""
import re


def test_every_page_links_the_icon_and_favicon_ico_leads_to_it(client_as):
    anonymous = client_as()
    page = anonymous.get("/login").get_data(as_text=True)
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert link, "the base template links no SVG icon"
    icon = anonymous.get(link.group(1))
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    ico = anonymous.get("/favicon.ico", follow_redirects=True)
    assert ico.status_code == 200 and ico.mimetype == "image/svg+xml" and ico.data == icon.data
    logged_in = client_as("viewer").get("/").get_data(as_text=True)
    assert link.group(0) in logged_in
