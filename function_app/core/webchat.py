"""What the web chat channel checks before it acts: the page is open to the internet.

The server issues each conversation's id with a token, an HMAC-SHA256 of the id under a secret
setting, which the page keeps and sends back as `Authorization: Bearer <token>`: an id a client makes
up, or someone else's id, has no token that matches. Messages are rate-limited per conversation and
per client address, and new conversations per client address, in fixed windows (`core.ratelimit`).
Tokens need no storage: any instance can check one.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from core.ratelimit import Counters, Limit, take
from switchboard.errors import ConflictError, TransientError

log = logging.getLogger(__name__)

UNKNOWN_ADDRESS = "unknown"  # no trusted X-Forwarded-For entry: all such requests count as one address
UNCOUNTED_SECONDS = 5.0  # after the counts' store failed, how long to let the chat on without asking it


class Refused(Exception):
    """A request the web chat turns down: the HTTP status, a reason for the client, and for 429 the
    seconds to wait (Retry-After)."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


@dataclass(frozen=True)
class WebchatLimits:
    messages_per_conversation: Limit
    messages_per_address: Limit
    conversations_per_address: Limit
    trusted_proxies: int = 1  # X-Forwarded-For entries, from the right, that proxies we trust appended


def conversation_token(secret: str, conversation_id: str) -> str:
    return hmac.new(secret.encode(), f"webchat:{conversation_id}".encode(), hashlib.sha256).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def client_address(forwarded_for: str | None, trusted_proxies: int) -> str:
    """The customer's address as the nearest untrusted hop: the `trusted_proxies`-th X-Forwarded-For
    entry from the right (each proxy appends the address it was reached from, so entries further left
    are whatever the client sent). On Azure the platform's front end appends the caller's address
    (1); behind Front Door or Application Gateway, one more. An IPv6 address counts by its /64, the
    block one customer gets; a port is dropped."""
    entries = [e.strip() for e in (forwarded_for or "").split(",") if e.strip()]
    if trusted_proxies < 1 or len(entries) < trusted_proxies:
        return UNKNOWN_ADDRESS
    entry = entries[-trusted_proxies]
    if entry.startswith("["):  # [2001:db8::1]:443
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:  # 203.0.113.5:443
        entry = entry.partition(":")[0]
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        return UNKNOWN_ADDRESS
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


class WebchatGuard:
    """Issues conversations and admits messages and reads, or raises Refused saying why."""

    def __init__(self, token_secret: str, counters: Counters, limits: WebchatLimits,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret, self._counters, self.limits, self._clock = token_secret, counters, limits, clock
        self._uncounted_until = 0.0  # the store failed: until then, nothing is counted (no wait on it)

    def token(self, conversation_id: str) -> str:
        return conversation_token(self._secret, conversation_id)

    def open_conversation(self, forwarded_for: str | None) -> dict[str, str]:
        """A new conversation id and its token, unless this address opened too many lately."""
        address = client_address(forwarded_for, self.limits.trusted_proxies)
        self._take(f"address:{address}:conversations", self.limits.conversations_per_address,
                   "new conversations from your address")
        conversation_id = uuid.uuid4().hex
        return {"conversation_id": conversation_id, "token": self.token(conversation_id)}

    def admit_reader(self, conversation_id: str, authorization: str | None) -> None:
        token = bearer_token(authorization)
        if token is None:
            raise Refused(401, "send the conversation's token as 'Authorization: Bearer <token>' "
                               "(POST /api/channels/webchat/conversations issues an id and its token)")
        if not hmac.compare_digest(token.encode(), self.token(conversation_id).encode()):
            raise Refused(403, "the token is not this conversation's")

    def admit_message(self, conversation_id: str, authorization: str | None, forwarded_for: str | None) -> None:
        """The token first (a refused guess costs no count), then the address's and the
        conversation's message limits."""
        self.admit_reader(conversation_id, authorization)
        address = client_address(forwarded_for, self.limits.trusted_proxies)
        self._take(f"address:{address}:messages", self.limits.messages_per_address,
                   "messages from your address")
        self._take(f"conversation:{conversation_id}", self.limits.messages_per_conversation,
                   "messages in this conversation")

    def _take(self, key: str, limit: Limit, what: str) -> None:
        now = self._clock()
        if now < self._uncounted_until:
            return
        try:
            wait = take(self._counters, key, limit, now)
        except ConflictError as e:  # the count kept changing: many requests for one key at once
            raise Refused(429, f"too many {what} at once; try again in 1 s", 1) from e
        except TransientError as e:  # the counts' store is down: the chat stays open meanwhile, and
            # the next requests do not each wait for the store to time out
            log.warning("web chat limits not checked for %g s: %s", UNCOUNTED_SECONDS, e)
            self._uncounted_until = now + UNCOUNTED_SECONDS
            return
        if wait is not None:
            raise Refused(429, f"too many {what}: at most {limit.count} in {limit.seconds:g} s; "
                               f"try again in {wait} s", wait)
