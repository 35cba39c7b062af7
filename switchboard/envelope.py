"""The one JSON envelope every queue message between steps carries.

`turn_id` (channel + the platform's message id) is the idempotency key of every step. Storage
queues carry no trace context of their own, so the W3C `traceparent` rides in the envelope.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from switchboard.errors import PermanentError

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 1000
ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")  # turn, conversation and user ids, everywhere


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID.match(value))


def now_ms() -> float:
    return time.time() * 1000.0


def check_id(kind: str, value: Any) -> str:
    """Ids become Cosmos DB document ids and URL segments: a conservative alphabet, bounded length."""
    if not valid_id(value):
        raise PermanentError(f"{kind} must be 1-200 characters of letters, digits and . _ : @ -")
    return value


# what from_json checks of a field it is given (bool is an int: a received_at of true is refused too)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "turn_id": (str,), "channel": (str,), "conversation_id": (str,), "user_id": (str,), "text": (str,),
    "received_at": (int, float), "channel_data": (dict,), "traceparent": (str,), "nlu": (dict, type(None)),
    "branch": (str, type(None)), "reply": (str, type(None)), "error": (str, type(None)), "timings": (dict,),
}


def valid_text(text: str) -> str:
    """`text` with any lone surrogate (what a JSON "\\ud800" escape decodes to: not a character, and
    not encodable as UTF-8) replaced by U+FFFD; a valid surrogate pair becomes its character."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@dataclass
class Envelope:
    turn_id: str
    channel: str  # one of switchboard.turns.CHANNELS
    conversation_id: str
    user_id: str
    text: str
    received_at: float = field(default_factory=now_ms)  # epoch milliseconds
    channel_data: dict[str, Any] = field(default_factory=dict[str, Any])  # e.g. SendBird's channel_url
    traceparent: str = ""
    nlu: dict[str, Any] | None = None
    branch: str | None = None
    reply: str | None = None
    error: str | None = None  # why the turn failed, when it did (the customer gets an apology)
    timings: dict[str, float] = field(default_factory=dict[str, float])  # step -> milliseconds spent
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.text.isascii():
            self.text = valid_text(self.text)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Envelope:
        try:
            parsed: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: "[[[[..." x 100,000
            raise PermanentError(f"envelope is not JSON: {type(e).__name__}: {str(e)[:200]}") from e
        if not isinstance(parsed, dict):
            raise PermanentError("envelope is not a JSON object")
        data = cast(dict[str, Any], parsed)
        if type(data.get("schema")) is not int or data["schema"] != SCHEMA_VERSION:  # true == 1.0 == 1
            raise PermanentError(f"unknown envelope schema {data.get('schema')!r}")
        known = set(cls.__dataclass_fields__)
        missing = {"turn_id", "channel", "conversation_id", "user_id", "text"} - data.keys()
        if missing:
            raise PermanentError(f"envelope lacks {', '.join(sorted(missing))}")
        wrong = [k for k, kinds in FIELD_TYPES.items()
                 if k in data and (not isinstance(data[k], kinds) or isinstance(data[k], bool))]
        if wrong:
            raise PermanentError(f"envelope fields of the wrong type: {', '.join(sorted(wrong))}")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise PermanentError(f"bad envelope: {e}") from e

    def timed(self, step: str, started: float) -> None:
        """Record how long `step` took, from a `time.perf_counter()` taken when it started."""
        self.timings[step] = round((time.perf_counter() - started) * 1000.0, 3)
