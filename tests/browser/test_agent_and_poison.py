"""The agent inbox and the poison queues, in a real browser against the whole stack."""
from __future__ import annotations

import re
import time

from branches import greeting, human_handoff
from browsing import screenshot


def chat(page, text: str, expect: str, timeout: float = 20_000) -> None:
    """Type a message in the web chat page and wait for a bot reply containing `expect`."""
    before = page.locator("#log li.bot").count()
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.locator("#log li.bot").nth(before).wait_for(timeout=timeout)
    page.wait_for_function("([n, s]) => [...document.querySelectorAll('#log li.bot')].slice(n)"
                           ".some(li => li.textContent.includes(s))", arg=[before, expect], timeout=timeout)


def test_a_customer_asks_for_a_person_an_agent_answers_then_releases_to_the_bot(site):
    customer = site.page()
    customer.goto(site.webchat + "/")
    chat(customer, "let me talk to a human", human_handoff.REPLIES["handing_off"].text)
    conversation = customer.evaluate("sessionStorage.getItem('switchboard.conversation')")

    agent = site.login("agent")
    deadline = time.monotonic() + 15
    while True:  # the count in the navigation bar (each process caches it for a few seconds)
        agent.goto(site.admin + "/inbox/")
        if agent.locator("[data-count=inbox]").count():
            break
        assert time.monotonic() < deadline, "the inbox count never showed"
        time.sleep(1)
    assert int(agent.inner_text("[data-count=inbox]")) >= 1
    agent.click(f"a:text('{conversation}')")
    screenshot(agent, "inbox-conversation")
    assert "let me talk to a human" in agent.inner_text("#transcript")
    agent.fill("textarea[name=text]", "Hello, this is Sam from the shop. How can I help?")
    agent.click("button:text('Send')")
    customer.wait_for_function("() => [...document.querySelectorAll('#log li.bot')]"
                               ".some(li => li.textContent.includes('this is Sam from the shop'))", timeout=20_000)

    agent.click("button:text('Release to the bot')")
    chat(customer, "hi", greeting.REPLIES["hello"].text)
    screenshot(customer, "webchat-after-release")
    texts = customer.locator("#log li.bot").all_inner_texts()
    assert sum("this is Sam from the shop" in t for t in texts) == 1  # the agent's reply, once


def test_a_parked_turn_is_re_queued_from_the_poison_page_and_answered_exactly_once(site):
    live, stack = site.live, site.stack
    channel = live.new_channel()
    stack.stop("nlu")
    try:
        live.say("hello there", channel, message_id=7702)
        deadline = time.monotonic() + 90
        while not any('"sendbird:7702"' in m for m in live.peek("turns-incoming-poison")):
            assert time.monotonic() < deadline, "the failing turn never reached turns-incoming-poison"
            time.sleep(0.5)
    finally:
        stack.start("nlu")
    assert live.sent(channel) == []

    editor = site.login("editor")
    editor.goto(site.admin + "/poison/")
    row = editor.locator("tr", has_text="sendbird:7702")
    row.wait_for()
    screenshot(editor, "poison-queues")
    assert re.search(r"dequeued \d+×", row.inner_text())
    row.locator("button", has_text="Re-queue").click()
    assert live.replies(channel, 1, timeout=30, settle=2.0) == [greeting.REPLIES["hello"].text]
    editor.goto(site.admin + "/poison/")
    assert "sendbird:7702" not in editor.inner_text("main")
