"""Short versions of the fault campaign (bench/faults.py) on the whole stack, the fault proxy in
front of its backing services: whatever fails, each turn is answered exactly once or visibly parked."""
from __future__ import annotations

import time

import pytest

from admin_site.queues import StoragePoisonQueues
from branches import greeting
from devstack.stack import storage_connection
from livestack import Live, message_event

HELLO = greeting.REPLIES["hello"].text


@pytest.fixture
def faults(stack):
    """Every proxy back to forwarding after the test, whatever it did."""
    yield stack.fault
    for name in stack.proxies:
        stack.fault(name, None)


def test_cosmos_db_unreachable_then_back_the_turn_is_answered_once(live: Live, faults):
    channel = live.new_channel()
    faults("cosmos", "refuse")
    live.say("hi", channel, message_id=701)
    time.sleep(3.0)  # understand cannot read the conversation: the message goes back on its queue
    assert live.sent(channel) == []
    faults("cosmos", None)
    assert live.replies(channel, 1, timeout=30, settle=1.5) == [HELLO]


def test_cosmos_db_answering_429_delays_the_turn_and_it_is_answered_once(live: Live, faults):
    channel = live.new_channel()
    faults("cosmos", "http", status=429, retry_after_ms=200)
    live.say("hi", channel, message_id=702)
    time.sleep(2.0)
    faults("cosmos", None)
    assert live.replies(channel, 1, timeout=30, settle=1.5) == [HELLO]


def test_a_webhook_that_cannot_be_queued_is_not_answered_200_and_its_retry_is_answered_once(live: Live, faults):
    channel = live.new_channel()
    event = message_event("hi", channel, 703)
    faults("queue", "refuse")
    refused = live.webhook(event)
    assert refused.status_code >= 500, refused.text  # SendBird retries what is not 200
    faults("queue", None)
    assert live.webhook(event).status_code == 200  # SendBird's retry
    assert live.replies(channel, 1, timeout=30, settle=1.5) == [HELLO]


def test_sendbird_answering_500_then_200_gets_one_reply(live: Live):
    channel = live.new_channel()
    live.sendbird.post("/__standin/faults", json={"status": 500, "count": 2, "retry_after": 0})
    live.say("hi", channel, message_id=704)
    assert live.replies(channel, 1, timeout=30, settle=2.0) == [HELLO]


def test_a_parked_turn_re_queued_from_poison_is_answered_once(live: Live, stack, faults):
    channel = live.new_channel()
    faults("nlu", "refuse")
    live.say("hello again", channel, message_id=705)
    queues = StoragePoisonQueues(storage_connection(stack.ports))
    deadline = time.monotonic() + 60
    while not (parked := [m for m in queues.peek("turns-incoming-poison") if '"sendbird:705"' in m.text]):
        assert time.monotonic() < deadline, "the failing turn never reached turns-incoming-poison"
        time.sleep(0.5)
    faults("nlu", None)
    assert live.sent(channel) == []
    queues.requeue("turns-incoming-poison", parked[0].id)  # what the admin site's Re-queue does
    assert live.replies(channel, 1, timeout=30, settle=1.5) == [HELLO]
