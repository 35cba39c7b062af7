"""The web chat page under its limits, in a real browser against the whole stack: it keeps the
conversation the server issued, and a 429 pauses it politely, then it sends the message again."""
from __future__ import annotations

import json

import httpx

from branches import greeting
from browsing import screenshot


def opened(page) -> tuple[str, str]:
    """The conversation id and token the page was issued (kept in sessionStorage)."""
    page.wait_for_function("() => sessionStorage.getItem('switchboard.token')")
    return tuple(page.evaluate("['conversation', 'token'].map(k => sessionStorage.getItem('switchboard.' + k))"))


def test_a_customer_over_the_message_limit_is_asked_to_wait_with_the_form_paused(site):
    customer = site.page()
    customer.goto(site.webchat + "/")
    conversation, token = opened(customer)
    limit = int(site.stack.settings.get("WEBCHAT_MESSAGES_PER_CONVERSATION", "20"))
    with httpx.Client(base_url=f"http://127.0.0.1:{site.stack.ports.functions}/api", timeout=10) as api:
        for n in range(limit):  # the conversation's messages for this window, spent
            sent = api.post("/channels/webchat/messages", headers={"Authorization": f"Bearer {token}"},
                            json={"conversation_id": conversation, "text": f"hi {n}"})
            assert sent.status_code == 202, sent.text
    customer.fill("#text", "one more")
    customer.press("#text", "Enter")
    notice = customer.locator("#log li.notice")
    notice.wait_for()
    assert "too many messages for now. Please wait" in notice.inner_text()
    assert customer.locator("#text").is_disabled() and customer.locator("#send button").is_disabled()
    screenshot(customer, "webchat-too-many-messages")


def test_after_retry_after_the_page_sends_the_message_again_and_it_is_answered_once(site):
    customer = site.page()
    refusals = []

    def too_many_once(route) -> None:
        if refusals:
            return route.continue_()
        refusals.append(route.request.post_data)
        route.fulfill(status=429, headers={"Retry-After": "2", "Access-Control-Allow-Origin": "*"},
                      content_type="application/json",
                      body=json.dumps({"error": "too many messages in this conversation", "retry_after": 2}))

    customer.route("**/api/channels/webchat/messages", too_many_once)
    customer.goto(site.webchat + "/")
    opened(customer)
    customer.fill("#text", "hi")
    customer.press("#text", "Enter")
    customer.locator("#log li.notice", has_text="Please wait").wait_for()
    assert customer.locator("#text").is_disabled()
    customer.locator("#log li.bot").first.wait_for(timeout=20_000)
    assert customer.locator("#log li.notice").count() == 0 and customer.locator("#text").is_enabled()
    assert customer.locator("#log li.bot").all_inner_texts() == [greeting.REPLIES["hello"].text]
    assert len(refusals) == 1 and json.loads(refusals[0])["text"] == "hi"
    customer.wait_for_timeout(1000)
    assert customer.locator("#log li.bot").count() == 1  # answered once: the same message_id was sent again
