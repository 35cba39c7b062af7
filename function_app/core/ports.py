"""The small interfaces the pipeline talks to, and the plain data that crosses them.

Pure: no SDK is imported here. Branch logic sees only `Turn`, `Services` and `core.conversation`;
the steps see the stores, queues, NLU and channels through the protocols below. Production passes
httpx / Cosmos DB / Storage implementations (`core.wiring`), unit tests the in-memory twins
(`core.memory`), and one contract test body checks both against the same expectations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from core.catalogue import Catalogue, Replies

if TYPE_CHECKING:
    from core.conversation import Conversation
    from switchboard.envelope import Envelope


# ---- plain data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    brand: str
    colour: str
    price: float


@dataclass(frozen=True)
class Order:
    order_id: str
    status: str
    eta: str | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    text: str
    confidence: float


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str


@dataclass(frozen=True)
class Turn:
    """What a branch sees of the customer's message."""
    turn_id: str
    text: str
    intent: str | None = None
    confidence: float = 0.0
    out_of_scope: bool = False
    entities: tuple[Entity, ...] = ()

    def entity(self, name: str) -> str | None:
        return next((e.value for e in self.entities if e.entity == name), None)

    @classmethod
    def from_nlu(cls, turn_id: str, text: str, nlu: dict[str, Any] | None) -> Turn:
        if not nlu:
            return cls(turn_id, text)
        intent: dict[str, Any] = nlu.get("intent") or {}
        return cls(
            turn_id, text, intent.get("name"), float(intent.get("confidence") or 0.0),
            bool(nlu.get("out_of_scope")),
            tuple(Entity(e["entity"], e["value"]) for e in nlu.get("entities", ())),
        )


# ---- what a branch may call --------------------------------------------------------------------
class ShopApi(Protocol):
    def search_products(self, *, query: str | None, brand: str | None, colour: str | None,
                        limit: int) -> list[Product]: ...

    def get_order(self, order_id: str) -> Order | None: ...


class QnaApi(Protocol):
    def ask(self, question: str) -> Answer | None: ...


@dataclass(frozen=True)
class Services:
    """External APIs a branch may call, the settings that shape their use, and its reply texts for
    this turn (the catalogue's, else the code's defaults); passed in, never imported."""
    shop: ShopApi
    qna: QnaApi
    qna_min_confidence: float = 0.0  # a QnA answer less confident than this is no answer
    replies: Replies = field(default_factory=lambda: Replies({}))


# ---- what the steps use --------------------------------------------------------------------------
class CatalogueReader(Protocol):
    def load(self) -> Catalogue:
        """The routes and reply templates admins set, as stored (`core.catalogue.usable` filters)."""
        ...


class Nlu(Protocol):
    def parse(self, text: str) -> dict[str, Any]: ...


class Queues(Protocol):
    def send(self, queue: str, text: str) -> None: ...


class Channel(Protocol):
    def send(self, envelope: Envelope) -> None: ...


class ConversationStore(Protocol):
    """One document per conversation, written with optimistic concurrency."""

    def load(self, conversation_id: str) -> Conversation | None: ...

    def save(self, conversation: Conversation) -> Conversation:
        """Create (etag None) or replace if the ETag still matches; ConflictError otherwise.
        Returns the conversation as stored, with its new ETag."""
        ...


class TurnLog(Protocol):
    """One document per turn: message, NLU result, branch, reply, status, step timings."""

    def record(self, envelope: Envelope, status: str) -> None:
        """Create or replace the turn's document (keyed by conversation and turn id)."""

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None: ...

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` turns, newest first."""
        ...


class Outbox(Protocol):
    """Every reply the bot sent, one document per turn; the web chat channel reads it."""

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None: ...

    def put(self, message: dict[str, Any]) -> None: ...

    def after(self, conversation_id: str, after: float) -> list[dict[str, Any]]:
        """The conversation's replies created after `after` (epoch ms), oldest first."""
        ...
