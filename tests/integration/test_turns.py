"""The chat-turn path end to end on the real local stack: webhook -> queues -> branch -> SendBird."""
from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest

from branches import greeting, order_status
from livestack import Live, message_event


def test_a_signed_webhook_gets_exactly_one_reply_with_the_right_text(live: Live):
    channel = live.new_channel()
    response = live.say("hi", channel, message_id=101)
    assert response.json() == {"status": "accepted", "turn_id": "sendbird:101"}
    assert live.replies(channel, 1, settle=1.0) == [greeting.REPLIES["hello"].text]
    turn = live.document("turns", "sendbird:101", channel)
    assert turn["status"] == "delivered" and turn["branch"] == "greeting"
    assert turn["nlu"]["intent"]["name"] == "greeting"
    assert {"sendbird_webhook", "understand", "intent_greeting", "deliver", "end_to_end"} <= set(turn["timings"])


def test_the_same_webhook_three_times_gets_one_reply(live: Live):
    channel = live.new_channel()
    event = message_event("where is my order A-1234", channel, 202)
    for _ in range(3):
        assert live.webhook(event).status_code == 200
    assert live.replies(channel, 1, settle=1.5) == ["Order A-1234 is out for delivery, expected today by 6 pm."]
    assert live.document("conversations", channel, channel)["message_count"] == 1


def test_a_wrong_signature_is_refused_and_nothing_is_queued(live: Live):
    channel = live.new_channel()
    event = message_event("hi", channel, 303)
    for signature in ("", "0" * 64, "not-hex"):
        response = live.webhook(event, signature=signature)
        assert response.status_code == 401
        assert "x-sendbird-signature" in response.json()["error"]
    time.sleep(1.5)
    assert live.sent(channel) == []
    assert live.document("turns", "sendbird:303", channel) is None
    assert live.document("conversations", channel, channel) is None


@pytest.mark.parametrize("body,status,reason", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"category": "group_channel:message_send", "sender": {"user_id": "c"}}).encode(), 400,
     "missing field"),
    (b'{"pad": "' + b"x" * 70_000 + b'"}', 413, "limit"),
])
def test_malformed_webhooks_get_a_4xx_with_a_reason(live: Live, body, status, reason):
    response = live.webhook(body)
    assert response.status_code == status
    assert reason in response.json()["error"]


def test_non_text_and_foreign_events_are_acknowledged_and_ignored(live: Live):
    channel = live.new_channel()
    file_event = message_event("photo.jpg", channel, 404, type="FILE")
    bot_event = message_event("echo", channel, 405, sender="switchboard-bot")
    other = message_event("hi", channel, 406, category="group_channel:message_delete")
    for event in (file_event, bot_event, other):
        response = live.webhook(event)
        assert response.status_code == 200 and response.json()["status"] == "ignored"
    live.say("hi", channel, message_id=407)  # and the host still answers normally
    assert live.replies(channel, 1, settle=0.5) == [greeting.REPLIES["hello"].text]


def test_slot_filling_across_two_messages(live: Live):
    channel = live.new_channel()
    live.say("where is my order", channel)
    assert live.replies(channel, 1) == [order_status.REPLIES["ask"].text]
    live.say("it's K-2718", channel)
    assert live.replies(channel, 2, settle=0.5)[1] == "Order K-2718 is shipped, expected on Thursday."
    conversation = live.document("conversations", channel, channel)
    assert conversation["pending"] is None and conversation["slots"] == {"order_id": "K-2718"}


def test_concurrent_messages_from_one_customer_keep_both_state_updates(live: Live):
    channel = live.new_channel()
    texts = ["hi", "thank you", "what are your opening hours", "good morning"]
    threads = [threading.Thread(target=live.say, args=(t, channel, 500 + i)) for i, t in enumerate(texts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(live.replies(channel, len(texts), settle=1.0)) == len(texts)
    conversation = live.document("conversations", channel, channel)
    assert conversation["message_count"] == len(texts)
    assert set(conversation["turns"]) == {f"sendbird:{500 + i}" for i in range(len(texts))}


def test_with_the_nlu_service_down_a_turn_is_retried_and_answered_once_it_is_back(live: Live, stack):
    channel = live.new_channel()
    stack.stop("nlu")
    try:
        live.say("hello", channel, message_id=601)
        time.sleep(3.0)  # attempts fail meanwhile: connection refused
        assert live.sent(channel) == []
    finally:
        stack.start("nlu")
    assert live.replies(channel, 1, timeout=30, settle=1.0) == [greeting.REPLIES["hello"].text]


def test_a_turn_that_keeps_failing_is_parked_in_poison_visibly(live: Live, stack):
    channel = live.new_channel()
    stack.stop("nlu")
    try:
        live.say("hello again", channel, message_id=602)
        deadline = time.monotonic() + 60
        while not any('"sendbird:602"' in m for m in live.peek("turns-incoming-poison")):
            assert time.monotonic() < deadline, "the failing turn never reached turns-incoming-poison"
            time.sleep(0.5)
    finally:
        stack.start("nlu")
    assert live.sent(channel) == []
    assert "failed 5 times" in stack.log_path("functions").read_text()


def test_the_web_chat_channel_posts_and_polls(live: Live):
    chat = live.webchat()
    sent = chat.send("hi", message_id="m1")
    assert sent.status_code == 202 and sent.json()["turn_id"] == f"webchat:{chat.conversation_id}:m1"
    assert chat.send("").status_code == 400
    assert chat.replies(1) == [greeting.REPLIES["hello"].text]
    assert chat.poll().json()["messages"] == []  # nothing after the cursor
    page = httpx.get(f"http://127.0.0.1:{live.stack.ports.webchat}/")
    assert page.status_code == 200 and f"127.0.0.1:{live.stack.ports.functions}" in page.text


def test_the_web_chat_refuses_made_up_and_guessed_conversations_and_over_long_messages(live: Live):
    chat, stranger = live.webchat(), live.webchat()
    made_up = live.functions.post("/channels/webchat/messages", json={"conversation_id": "web-1", "text": "hi"})
    assert made_up.status_code == 401 and "Bearer" in made_up.json()["error"]
    guessed = live.functions.post("/channels/webchat/messages", headers=stranger.headers,
                                  json={"conversation_id": chat.conversation_id, "text": "hi"})
    assert guessed.status_code == 403
    assert live.functions.get(f"/channels/webchat/conversations/{chat.conversation_id}/messages",
                              headers=stranger.headers).status_code == 403
    too_long = chat.send("x" * 1001)
    assert too_long.status_code == 400 and "the limit is 1000" in too_long.json()["error"]


def test_a_burst_in_one_web_chat_conversation_is_told_to_retry_after(live: Live):
    chat = live.webchat(address=f"198.51.100.{uuid.uuid4().int % 250 + 1}")
    limit = int(live.settings.get("WEBCHAT_MESSAGES_PER_CONVERSATION", "20"))
    statuses = [chat.send(f"hi {n}").status_code for n in range(limit)]
    refused = chat.send("one too many")
    assert statuses == [202] * limit and refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and refused.json()["retry_after"] == int(
        refused.headers["Retry-After"])
    assert "too many messages in this conversation" in refused.json()["error"]


def test_an_agent_takes_over_and_releases_the_conversation(live: Live):
    channel = live.new_channel()
    live.say("I want to talk to a real person", channel)
    assert len(live.replies(channel, 1)) == 1
    assert live.document("conversations", channel, channel)["handoff"] is True
    live.say("hi", channel)
    time.sleep(1.5)
    assert len(live.sent(channel)) == 1  # silent while the agent has it
    release = f"/conversations/{channel}/release"
    assert live.functions.post(release, headers={"x-agent-token": "wrong"}).status_code == 401
    released = live.functions.post(release, headers={"x-agent-token": live.settings["AGENT_API_TOKEN"]})
    assert released.status_code == 200 and released.json()["changed"] is True
    live.say("hi", channel)
    assert live.replies(channel, 2, settle=0.5)[1] == greeting.REPLIES["hello"].text
