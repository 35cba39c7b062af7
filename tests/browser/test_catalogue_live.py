"""Curating the bot in a real browser: an intent with annotated examples, a reply that is live in the
next chat turn, and a misunderstood utterance relabelled into the training data."""
from __future__ import annotations

import time

import yaml

from branches import greeting
from browsing import screenshot

NEW_GREETING = "Welcome to the Switchboard demo shop! Ask me about an order or a product."


def test_an_editor_adds_an_intent_and_sees_the_entity_spans_highlighted_as_they_type(site):
    page = site.login("editor")
    page.goto(site.admin + "/intents/")
    page.fill("#new input[name=name]", "gift_wrapping")
    page.select_option("#new select[name=route]", "")
    page.fill("#new-examples", "can you gift wrap order [A-1234](order_id)\nwrap the [red](colour) scarf [please")
    preview = page.locator("#new-examples-preview")
    preview.locator("mark.entity", has_text="A-1234").wait_for()
    assert "unbalanced annotation bracket" in preview.inner_text()  # named before saving
    screenshot(page, "intents-new-with-preview")
    page.fill("#new-examples", "can you gift wrap order [A-1234](order_id)\nwrap the [red](colour) scarf please")
    page.wait_for_function("() => !document.querySelector('#new-examples-preview').innerText.includes('unbalanced')")
    page.click("#new button[type=submit]")
    page.wait_for_url("**/intents/gift_wrapping**")
    marks = page.locator("mark.entity").all_inner_texts()
    assert any(m.startswith("A-1234") for m in marks) and any(m.startswith("red") for m in marks)
    screenshot(page, "intent-page")


def test_a_changed_greeting_is_what_the_web_chat_answers_within_10_seconds(site):
    page = site.login("editor")
    page.goto(site.admin + "/intents/greeting")
    customer = site.page()
    customer.goto(site.webchat + "/")
    try:
        page.fill("#reply-hello", NEW_GREETING)
        page.click("button:text('Save replies')")
        page.wait_for_load_state()
        saved = time.monotonic()
        assert NEW_GREETING in page.input_value("#reply-hello")
        while True:  # the customer says hi until the bot answers with the new text
            before = customer.locator("#log li.bot").count()
            customer.fill("#text", "hi")
            customer.press("#text", "Enter")
            customer.locator("#log li.bot").nth(before).wait_for(timeout=15_000)
            if customer.locator("#log li.bot").nth(before).inner_text() == NEW_GREETING:
                break
            assert time.monotonic() - saved < 10, "the new greeting was not live within 10 s"
            time.sleep(0.5)
        live_after = time.monotonic() - saved
        assert live_after < 10, f"live after {live_after:.1f} s"
        screenshot(customer, "webchat-new-greeting")
    finally:  # the other tests expect the code's greeting
        page.goto(site.admin + "/intents/greeting")
        page.fill("#reply-hello", "")
        page.click("button:text('Save replies')")
        page.wait_for_load_state()
    assert greeting.REPLIES["hello"].text != NEW_GREETING


def test_a_misunderstood_turn_is_relabelled_from_the_review_queue_into_the_exported_data_set(site):
    sent = site.live.webchat().send("my parcel went walkabout", message_id="m1")
    assert sent.status_code == 202
    page = site.login("editor")
    deadline = time.monotonic() + 30
    while True:
        page.goto(site.admin + "/review/")
        row = page.locator("tr", has_text="my parcel went walkabout")
        if row.count():
            break
        assert time.monotonic() < deadline, "the turn never reached the review queue"
        time.sleep(1)
    screenshot(page, "review-queue")
    row.locator("select[name=intent]").select_option("order_status")
    row.locator("input[name=example]").fill("my parcel went walkabout")
    row.locator("button", has_text="Add to intent").click()
    page.wait_for_load_state()
    page.goto(site.admin + "/review/")
    assert page.locator("tr", has_text="my parcel went walkabout").count() == 0  # it left the queue

    page.goto(site.admin + "/data/")
    with page.expect_download() as download:
        page.click("text=Download catalogue.yml")
    exported = yaml.safe_load(open(download.value.path(), encoding="utf-8"))
    intents = {i["name"]: i["examples"] for i in exported["intents"]}
    assert "my parcel went walkabout" in intents["order_status"]
