"""SendBird's webhook: the signature and the documented `group_channel:message_send` payload."""
import json

import pytest

from core import sendbird
from switchboard.errors import PermanentError


def event(**overrides):
    body = {"category": "group_channel:message_send", "type": "MESG",
            "sender": {"user_id": "customer-7", "nickname": "Ann"},
            "payload": {"message_id": 1234567, "message": "where is my order?", "created_at": 1700000000000},
            "channel": {"channel_url": "sendbird_group_channel_1", "name": "support"},
            "members": [{"user_id": "customer-7"}, {"user_id": "switchboard-bot"}], "app_id": "APP"}
    body.update(overrides)
    return body


def test_signature_is_the_hex_hmac_sha256_of_the_raw_body():
    body = json.dumps(event()).encode()
    good = sendbird.signature(body, "token")
    assert sendbird.signature_ok(body, "token", good)
    assert sendbird.signature_ok(body, "token", good.upper())
    assert not sendbird.signature_ok(body, "other-token", good)
    assert not sendbird.signature_ok(body + b" ", "token", good)
    assert not sendbird.signature_ok(body, "token", None)


def test_a_customer_text_message_becomes_an_envelope():
    envelope = sendbird.to_envelope(event(), "switchboard-bot")
    assert envelope.turn_id == "sendbird:1234567"
    assert (envelope.channel, envelope.conversation_id, envelope.user_id, envelope.text) == (
        "sendbird", "sendbird_group_channel_1", "customer-7", "where is my order?")
    assert envelope.channel_data["channel_url"] == "sendbird_group_channel_1"


@pytest.mark.parametrize("overrides,reason", [
    ({"category": "group_channel:message_update"}, "is not handled"),
    ({"sender": {"user_id": "switchboard-bot"}}, "the bot's own message"),
    ({"type": "FILE"}, "is not text"),
    ({"payload": {"message_id": 1, "message": "   "}}, "empty message"),
])
def test_events_that_are_not_customer_text_are_ignored(overrides, reason):
    assert reason in sendbird.to_envelope(event(**overrides), "switchboard-bot")


@pytest.mark.parametrize("overrides,problem", [
    ({"payload": {"message": "hi"}}, "payload.message_id"),
    ({"sender": {}}, "sender.user_id"),
    ({"channel": {"name": "x"}}, "channel.channel_url"),
    ({"payload": {"message_id": 1, "message": 42}}, "payload.message must be a string"),
    ({"channel": {"channel_url": "bad url with spaces"}}, "channel.channel_url must be"),
])
def test_malformed_events_name_the_problem(overrides, problem):
    with pytest.raises(PermanentError, match=problem.replace(".", r"\.")):
        sendbird.to_envelope(event(**overrides), "switchboard-bot")
