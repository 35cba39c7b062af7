"""The optimistic-concurrency loop every conversation update goes through. Pure: the stores
themselves are ports (`core.ports`); the turn log's document is `switchboard.turns.TurnRecord`."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from core.conversation import Conversation
from core.ports import ConversationStore
from switchboard.envelope import now_ms
from switchboard.errors import ConflictError

T = TypeVar("T")
CONFLICT_ATTEMPTS = 20


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
        conversation.updated_at = now_ms()
        try:
            return store.save(conversation), result
        except ConflictError:
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
    raise ConflictError(f"conversation {new().id} kept changing during {CONFLICT_ATTEMPTS} attempts")
