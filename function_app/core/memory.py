"""In-memory twins of the adapters, with the same contracts as the real ones (one contract test body,
tests/function_app/test_stores_contract.py, runs over both): unit tests need no server."""
from __future__ import annotations

import copy
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from core.catalogue import Catalogue
from core.conversation import Conversation
from core.ports import Answer, Order, Product
from switchboard.envelope import Envelope
from switchboard.errors import ConflictError
from switchboard.turns import TurnRecord


class MemoryConversationStore:
    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load(self, conversation_id: str) -> Conversation | None:
        with self._lock:
            doc = self._docs.get(conversation_id)
            return Conversation.from_doc(copy.deepcopy(doc)) if doc else None

    def save(self, conversation: Conversation) -> Conversation:
        with self._lock:
            current = self._docs.get(conversation.id)
            if (current is None) != (conversation.etag is None) or (
                    current is not None and current["_etag"] != conversation.etag):
                raise ConflictError(f"conversation {conversation.id} changed")
            doc = {**copy.deepcopy(conversation.to_doc()), "_etag": uuid.uuid4().hex}
            self._docs[conversation.id] = doc
            return Conversation.from_doc(copy.deepcopy(doc))


class MemoryTurnLog:
    """Documents keyed as Cosmos DB keys them: by partition (the conversation) and id (the turn)."""

    def __init__(self) -> None:
        self.turns: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, envelope: Envelope, status: str) -> None:
        doc = copy.deepcopy(TurnRecord.from_envelope(envelope, status).to_doc())
        with self._lock:
            self.turns[(envelope.conversation_id, envelope.turn_id)] = doc

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self.turns.get((conversation_id, turn_id)))

    def recent(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(sorted(self.turns.values(), key=lambda t: -t["received_at"])[:limit])


class MemoryOutbox:
    """Documents keyed as Cosmos DB keys them: by partition (the conversation) and id (the turn)."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self.messages.get((conversation_id, turn_id)))

    def put(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.messages[(message["conversation_id"], message["id"])] = copy.deepcopy(message)

    def after(self, conversation_id: str, after: float) -> list[dict[str, Any]]:
        with self._lock:
            found = [m for (c, _), m in self.messages.items() if c == conversation_id and m["created"] > after]
        return copy.deepcopy(sorted(found, key=lambda m: m["created"]))


class MemoryQueues:
    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = defaultdict(list)

    def send(self, queue: str, text: str) -> None:
        self.sent[queue].append(text)

    def take(self, queue: str) -> list[str]:
        taken, self.sent[queue] = self.sent[queue], []
        return taken


class MemoryShop:
    """The shop's search and orders; `failures` are raised, one per call, before answering."""

    def __init__(self, products: Iterable[Product] = (), orders: Iterable[Order] = ()) -> None:
        self.products, self.orders = list(products), {o.order_id: o for o in orders}
        self.searches: list[dict[str, Any]] = []
        self.failures: list[Exception] = []

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def search_products(self, *, query, brand, colour, limit) -> list[Product]:
        self._fail()
        self.searches.append({"query": query, "brand": brand, "colour": colour})
        def matches(p: Product) -> bool:
            return ((not query or query.lower() in p.name.lower())
                    and (not brand or brand.lower() == p.brand.lower())
                    and (not colour or colour.lower() == p.colour.lower()))
        return [p for p in self.products if matches(p)][:limit]

    def get_order(self, order_id: str) -> Order | None:
        self._fail()
        return self.orders.get(order_id)


class MemoryQna:
    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}

    def ask(self, question: str) -> Answer | None:
        return next((a for key, a in self.answers.items() if key in question.lower()), None)


class MemoryChannel:
    """Records what would have been sent; `send` may be told to fail to test retries."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self.failures: list[Exception] = []

    def send(self, envelope: Envelope) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(envelope)


class MemoryCatalogue:
    """Routes and reply templates as an admin would have saved them."""

    def __init__(self) -> None:
        self.routes: dict[str, str | None] = {}
        self.replies: dict[str, dict[str, str]] = {}
        self.failures: list[Exception] = []

    def load(self) -> Catalogue:
        if self.failures:
            raise self.failures.pop(0)
        return Catalogue(dict(self.routes), copy.deepcopy(self.replies))
