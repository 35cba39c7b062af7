"""Storage interfaces of the pipeline (Cosmos DB in production, `core.memory` in unit tests), and the
optimistic-concurrency loop every conversation update goes through."""
from __future__ import annotations

import random
import time
from typing import Any, Callable, Protocol, TypeVar

from core.conversation import Conversation
from core.envelope import Envelope
from core.errors import ConflictError

T = TypeVar("T")
CONFLICT_ATTEMPTS = 20


class ConversationStore(Protocol):
    def load(self, conversation_id: str) -> Conversation | None: ...

    def save(self, conversation: Conversation) -> Conversation:
        """Create (etag None) or replace if the ETag still matches; ConflictError otherwise."""


class TurnLog(Protocol):
    def record(self, envelope: Envelope, status: str) -> None:
        """Upsert the turn's log document: message, NLU result, branch, reply, step timings."""

    def recent(self, limit: int) -> list[dict[str, Any]]: ...


class Outbox(Protocol):
    """Every reply the bot sent, one document per turn; the web chat channel reads it."""

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None: ...

    def put(self, message: dict[str, Any]) -> None: ...

    def after(self, conversation_id: str, after: float) -> list[dict[str, Any]]: ...


class Unchanged:
    """Returned by a mutation that found nothing to do (e.g. the turn was already applied)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def update_conversation(store: ConversationStore, new: Callable[[], Conversation],
                        mutate: Callable[[Conversation], T | Unchanged]) -> tuple[Conversation, Any]:
    """Read, change, write with If-Match; on a conflict read again and redo the change.

    `mutate` must be a function of the document it is given (it runs again after a conflict), so
    two concurrent turns of one customer both land, in some order, and neither overwrites the other.
    """
    for attempt in range(CONFLICT_ATTEMPTS):
        conversation = store.load(new().id) or new()
        result = mutate(conversation)
        if isinstance(result, Unchanged):
            return conversation, result.value
        try:
            return store.save(conversation), result
        except ConflictError:
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
    raise ConflictError(f"conversation {new().id} kept changing during {CONFLICT_ATTEMPTS} attempts")


def turn_document(envelope: Envelope, status: str) -> dict[str, Any]:
    return {
        "id": envelope.turn_id, "conversation_id": envelope.conversation_id, "status": status,
        "channel": envelope.channel, "user_id": envelope.user_id, "text": envelope.text,
        "received_at": envelope.received_at, "nlu": envelope.nlu, "branch": envelope.branch,
        "reply": envelope.reply, "timings": envelope.timings, "updated_at": time.time() * 1000.0,
    }
