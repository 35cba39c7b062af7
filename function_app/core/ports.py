"""The small interfaces the pipeline talks to, and the plain data that crosses them.

Branch logic imports only this module and `core.conversation`: it does no I/O of its own, so unit
tests pass in-memory implementations (`core.memory`), and production passes httpx/Cosmos/Queue ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    def from_nlu(cls, turn_id: str, text: str, nlu: dict[str, Any] | None) -> "Turn":
        if not nlu:
            return cls(turn_id, text)
        intent = nlu.get("intent") or {}
        return cls(
            turn_id, text, intent.get("name"), float(intent.get("confidence") or 0.0),
            bool(nlu.get("out_of_scope")),
            tuple(Entity(e["entity"], e["value"]) for e in nlu.get("entities", ())),
        )


class ShopApi(Protocol):
    def search_products(self, *, query: str | None, brand: str | None, colour: str | None,
                        limit: int) -> list[Product]: ...

    def get_order(self, order_id: str) -> Order | None: ...


class QnaApi(Protocol):
    def ask(self, question: str) -> Answer | None: ...


@dataclass
class Services:
    """External APIs a branch may call; passed in, never imported."""
    shop: ShopApi
    qna: QnaApi
    options: dict[str, Any] = field(default_factory=dict)
