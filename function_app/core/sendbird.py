"""SendBird webhooks: signature check and the `group_channel:message_send` event, as documented.

The signature is the hex HMAC-SHA-256 of the raw body keyed with the API token, compared in
constant time. The bot's own messages, other categories and non-text messages are acknowledged and
ignored; SendBird retries an unanswered webhook, and `turn_id` = `sendbird:<message_id>` makes
those retries harmless downstream.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from switchboard.envelope import Envelope, check_id
from switchboard.errors import PermanentError
from switchboard.turns import SENDBIRD

MESSAGE_SEND = "group_channel:message_send"


def signature(body: bytes, api_token: str) -> str:
    return hmac.new(api_token.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, api_token: str, received: str | None) -> bool:
    if not received or not received.isascii():  # compare_digest refuses (TypeError) non-ASCII strings
        return False
    return hmac.compare_digest(signature(body, api_token), received.strip().lower())


def _field(data: Any, path: str) -> Any:
    value = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise PermanentError(f"missing field {path!r}")
        value = value[part]
    return value


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def to_envelope(event: dict[str, Any], bot_user_id: str) -> Envelope | str:
    """The envelope for a customer's text message, or the reason the event is ignored."""
    category = event.get("category")
    if category != MESSAGE_SEND:
        return f"category {category!r} is not handled"
    sender = _field(event, "sender.user_id")
    if sender == bot_user_id:
        return "the bot's own message"
    if event.get("type", "MESG") != "MESG":
        return f"message type {event.get('type')!r} is not text"
    message_id = _field(event, "payload.message_id")
    text = _field(event, "payload.message")
    channel_url = _field(event, "channel.channel_url")
    if not isinstance(message_id, (int, str)) or isinstance(message_id, bool):
        raise PermanentError("payload.message_id must be a number or a string")
    if not isinstance(text, str):
        raise PermanentError("payload.message must be a string")
    if not text.strip():
        return "empty message"
    check_id("channel.channel_url", channel_url)
    check_id("sender.user_id", sender)
    return Envelope(
        turn_id=check_id("turn id", f"{SENDBIRD}:{message_id}"), channel=SENDBIRD,
        conversation_id=channel_url, user_id=sender, text=text,
        channel_data={"channel_url": channel_url,
                      "members": [m.get("user_id") for m in _list(event.get("members")) if isinstance(m, dict)]},
    )
