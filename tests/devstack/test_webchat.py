"""The web chat page has an icon: the page links it, and /favicon.ico (which browsers ask for anyway)
answers with it, so the page logs no 404 in the browser's console."""
import re

import httpx

from devstack.standins.webchat import webchat_app


def test_the_page_links_its_icon_and_favicon_ico_answers_with_it():
    http = httpx.Client(transport=httpx.WSGITransport(app=webchat_app("http://functions.test")),
                        base_url="http://webchat.test")
    page = http.get("/")
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
    assert link, "the page links no SVG icon"
    icon, ico = http.get(link.group(1)), http.get("/favicon.ico")
    for answer in (icon, ico):
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
        assert answer.content.startswith(b"<svg")
