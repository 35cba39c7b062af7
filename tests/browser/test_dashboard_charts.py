"""The dashboard draws its charts with data in a real browser, and every main page is screenshot."""
from __future__ import annotations

from browsing import screenshot

# How much of a canvas is painted (not transparent), per canvas: blank charts have none.
PAINTED = """() => [...document.querySelectorAll('#dashboard canvas')].map(c => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return {id: c.id, painted: painted / (data.length / 4), width: c.width};
})"""


def test_the_dashboard_draws_every_chart_with_data(site):
    channel = site.live.new_channel()
    for i, text in enumerate(("hi", "where is my order A-1234", "blue running shoes from Nike", "bye")):
        site.live.say(text, channel, message_id=880_000 + i)
    site.live.replies(channel, 4, timeout=30)
    page = site.login("viewer")
    page.goto(site.admin + "/?range=1h")
    page.wait_for_selector("#dashboard[data-state=drawn]", timeout=20_000)
    page.wait_for_timeout(500)  # Chart.js animates its first drawing
    canvases = page.evaluate(PAINTED)
    assert len(canvases) == 5
    for canvas in canvases:
        assert canvas["width"] > 0 and canvas["painted"] > 0.01, f"{canvas['id']} is blank: {canvas}"
    screenshot(page, "dashboard")


def test_screenshots_of_every_main_page(site):
    page = site.login("admin")
    for path, name in (("/conversations/", "conversations"), ("/review/", "review"), ("/inbox/", "inbox"),
                       ("/intents/", "intents"), ("/entities/", "entities"), ("/qna/", "qna"),
                       ("/data/", "import-export"), ("/poison/", "poison"), ("/audit/", "audit"),
                       ("/users/", "users")):
        answer = page.goto(site.admin + path)
        assert answer.status == 200, f"{path}: {answer.status}"
        assert "Traceback" not in page.content()
        screenshot(page, name)
