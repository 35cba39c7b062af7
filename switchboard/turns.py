"""The turn log's document: one per turn, written by the function app's step that ends the turn,
read by the admin site's pages and charts. Pure.

`TurnRecord.from_doc` reads any stored document without failing (an older or hand-edited one, an NLU
result from another service): what is missing or of the wrong type reads as empty.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from switchboard.envelope import Envelope, now_ms

# How a turn ended
DELIVERED = "delivered"  # the reply reached the customer
FAILED = "failed"  # the customer got an apology (`error` says why)
PARKED = "parked"  # the message waits in a poison queue (`error` names it and why)
NO_REPLY = "no reply"  # the branch had nothing to say
SILENT = "silent: handed off to an agent"  # a person has the conversation; the bot stays quiet
STATUSES = (DELIVERED, FAILED, PARKED, NO_REPLY, SILENT)

WEBCHAT, SENDBIRD = "webchat", "sendbird"
CHANNELS = (WEBCHAT, SENDBIRD)

AGENT = "agent"  # the branch of a reply a person wrote in the admin site's inbox
HUMAN_HANDOFF = "human_handoff"  # the branch that hands a conversation to a person
FALLBACK = "fallback"  # the branch that answers what nothing else could


@dataclass
class TurnRecord:
    id: str
    conversation_id: str
    status: str = ""
    channel: str = ""
    user_id: str = ""
    text: str = ""
    received_at: float | None = None  # epoch milliseconds
    nlu: dict[str, Any] = field(default_factory=dict[str, Any])  # the NLU service's parse ({} when none)
    branch: str | None = None
    reply: str | None = None
    error: str | None = None  # why the turn failed: a status and a reason, never a service's answer
    timings: dict[str, float] = field(default_factory=dict[str, float])  # step -> milliseconds
    updated_at: float | None = None
    review: dict[str, Any] | None = None  # an editor's mark (admin site)

    @classmethod
    def from_envelope(cls, envelope: Envelope, status: str) -> TurnRecord:
        return cls(envelope.turn_id, envelope.conversation_id, status, envelope.channel, envelope.user_id,
                   envelope.text, envelope.received_at, envelope.nlu or {}, envelope.branch, envelope.reply,
                   envelope.error, envelope.timings, now_ms())

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> TurnRecord:
        def text(key: str) -> str:
            return doc[key] if isinstance(doc.get(key), str) else ""

        def optional(key: str, kind: type | tuple[type, ...]) -> Any:
            value = doc.get(key)
            return value if isinstance(value, kind) and not isinstance(value, bool) else None

        return cls(text("id"), text("conversation_id"), text("status"), text("channel"), text("user_id"),
                   text("text"), optional("received_at", (int, float)), optional("nlu", dict) or {},
                   optional("branch", str), optional("reply", str), optional("error", str),
                   optional("timings", dict) or {}, optional("updated_at", (int, float)),
                   optional("review", dict))

    def to_doc(self) -> dict[str, Any]:
        doc = {"id": self.id, "conversation_id": self.conversation_id, "status": self.status,
               "channel": self.channel, "user_id": self.user_id, "text": self.text,
               "received_at": self.received_at, "nlu": self.nlu or None, "branch": self.branch,
               "reply": self.reply, "error": self.error, "timings": self.timings, "updated_at": self.updated_at}
        if self.review is not None:
            doc["review"] = self.review
        return doc

    @property
    def intent(self) -> dict[str, Any]:
        """The NLU's top intent ({} when none)."""
        intent = self.nlu.get("intent")
        return cast(dict[str, Any], intent) if isinstance(intent, dict) else {}

    @property
    def by_agent(self) -> bool:
        return self.branch == AGENT
