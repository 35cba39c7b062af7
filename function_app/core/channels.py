"""Channel adapters: how a reply reaches the customer.

SendBird: the bot send API, `POST /v3/bots/{bot_userid}/send` ("Send a bot message" in the Chat
Platform API v3 reference): `message`, `channel_url` and `message_type` ("MESG" for text) are
required, and `dedup_id` = turn id keeps a retried delivery from showing twice. SendBird answers
errors with HTTP 400 or 500 (429 for rate limits) and a body `{"error": true, "code": <six
digits>, "message": ...}`; the code decides: 500910 (rate limit) and every 5xxxxx code are retried,
honouring `X-RateLimit-RetryAfter`, and any 4xxxxx code (400401: a wrong API token) is permanent:
the turn is parked with SendBird's reason.

Web chat: the reply document in the outbox *is* the delivery (the page polls for it), so there is
nothing to send.
"""
from __future__ import annotations

import httpx

from switchboard.envelope import Envelope
from switchboard.errors import PermanentError, SwitchboardError, TransientError, is_transient_status
from switchboard.retry import RetryPolicy, retrying

RATE_LIMIT_EXCEEDED = 500910
HINTS = {  # the codes an operator fixes in the settings or in SendBird's dashboard
    400401: "the API token is wrong or revoked: check SENDBIRD_API_TOKEN",
    400201: "the bot or the channel does not exist: check SENDBIRD_BOT_USER_ID and the channel",
}


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
        body = {"message_type": "MESG", "message": envelope.reply, "channel_url": channel_url,
                "dedup_id": envelope.turn_id}
        response = retrying(self._http, "POST", self._path, self._policy,
                            retry_after_header="X-RateLimit-RetryAfter",
                            transient=lambda r: isinstance(failure(r), TransientError), json=body)
        error = failure(response)
        if error is not None:
            raise error


def failure(response: httpx.Response) -> SwitchboardError | None:
    """SendBird's answer as the pipeline's error, decided on SendBird's own code (on the HTTP status
    only when the body has none, e.g. a proxy's error page); a success is no error."""
    if response.status_code == 200:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        transient = code == RATE_LIMIT_EXCEEDED or 500000 <= code < 600000
        reason = f"code {code}: {body.get('message', '')}"
        if code in HINTS:
            reason += f" ({HINTS[code]})"
    else:
        transient = is_transient_status(response.status_code)
        reason = response.reason_phrase or "no reason given"
    error = TransientError if transient else PermanentError
    return error(f"SendBird answered HTTP {response.status_code}, {reason}")


class WebchatChannel:
    def send(self, envelope: Envelope) -> None:
        """Nothing to push: `deliver` writes the reply to the outbox, where the page reads it."""
