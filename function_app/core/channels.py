"""Channel adapters: how a reply reaches the customer.

SendBird: the bot send API, `POST /v3/bots/{bot_userid}/send`, with `dedup_id` = turn id so a
retried delivery never shows twice, honouring 429 `X-RateLimit-RetryAfter`. Web chat: the reply
document in the outbox *is* the delivery (the page polls for it), so there is nothing to send.
"""
from __future__ import annotations

from typing import Protocol

import httpx

from core.clients import RetryPolicy, retrying
from core.envelope import Envelope
from core.errors import PermanentError, TransientError


class Channel(Protocol):
    def send(self, envelope: Envelope) -> None: ...


class SendBirdChannel:
    def __init__(self, api_url: str, api_token: str, bot_user_id: str, timeout: float = 5.0,
                 policy: RetryPolicy = RetryPolicy(attempts=4, max_wait=5.0),
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=api_url, timeout=timeout, transport=transport,
                                  headers={"Api-Token": api_token,
                                           "Content-Type": "application/json; charset=utf8"})
        self._path = f"/v3/bots/{bot_user_id}/send"
        self._policy = policy

    def send(self, envelope: Envelope) -> None:
        channel_url = envelope.channel_data.get("channel_url")
        if not channel_url:
            raise PermanentError(f"turn {envelope.turn_id} has no SendBird channel_url")
        body = {"message": envelope.reply, "channel_url": channel_url, "dedup_id": envelope.turn_id}
        response = retrying(self._http, "POST", self._path, self._policy,
                            retry_after_header="X-RateLimit-RetryAfter", json=body)
        if response.status_code == 200:
            return
        detail = response.text[:300]
        if response.status_code in (401, 403):
            raise TransientError(f"SendBird refused the API token ({response.status_code}): {detail}")
        raise PermanentError(f"SendBird answered {response.status_code}: {detail}")


class WebchatChannel:
    def send(self, envelope: Envelope) -> None:
        """Nothing to push: `deliver` writes the reply to the outbox, where the page reads it."""
