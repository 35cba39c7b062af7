"""The one JSON envelope every queue message between steps carries.

`turn_id` (channel + the platform's message id) is the idempotency key of every step. Storage
queues carry no trace context of their own, so the W3C `traceparent` rides in the envelope.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import PermanentError

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 1000
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")


def now_ms() -> float:
    return time.time() * 1000.0


def check_id(kind: str, value: Any) -> str:
    """Ids become Cosmos DB document ids and URL segments: a conservative alphabet, bounded length."""
    if not isinstance(value, str) or not _ID.match(value):
        raise PermanentError(f"{kind} must be 1-200 characters of letters, digits and . _ : @ -")
    return value


@dataclass
class Envelope:
    turn_id: str
    channel: str  # "sendbird" | "webchat"
    conversation_id: str
    user_id: str
    text: str
    received_at: float = field(default_factory=now_ms)  # epoch milliseconds
    channel_data: dict[str, Any] = field(default_factory=dict)  # e.g. SendBird's channel_url
    traceparent: str = ""
    nlu: dict[str, Any] | None = None
    branch: str | None = None
    reply: str | None = None
    error: str | None = None  # why the turn failed, when it did (the customer gets an apology)
    timings: dict[str, float] = field(default_factory=dict)  # step -> milliseconds spent
    schema: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Envelope":
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise PermanentError(f"envelope is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise PermanentError("envelope is not a JSON object")
        if data.get("schema") != SCHEMA_VERSION:
            raise PermanentError(f"unknown envelope schema {data.get('schema')!r}")
        known = set(cls.__dataclass_fields__)
        missing = {"turn_id", "channel", "conversation_id", "user_id", "text"} - data.keys()
        if missing:
            raise PermanentError(f"envelope lacks {', '.join(sorted(missing))}")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise PermanentError(f"bad envelope: {e}") from e

    def timed(self, step: str, started: float) -> None:
        """Record how long `step` took, from a `time.perf_counter()` taken when it started."""
        self.timings[step] = round((time.perf_counter() - started) * 1000.0, 3)
