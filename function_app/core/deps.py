"""Everything a step needs, passed in: built once per worker by `core.wiring` from the settings, or
from the in-memory twins in unit tests. Pure: it names the ports, not their implementations."""
from __future__ import annotations

from dataclasses import dataclass

from core.catalogue import CachedCatalogue
from core.ports import Channel, ConversationStore, Nlu, Outbox, Queues, Services, TurnLog
from core.webchat import WebchatGuard


@dataclass
class Deps:
    conversations: ConversationStore
    turn_log: TurnLog
    outbox: Outbox
    queues: Queues
    nlu: Nlu
    services: Services
    channels: dict[str, Channel]
    catalogue: CachedCatalogue
    webchat: WebchatGuard  # the web chat channel's tokens and rate limits
    min_confidence: float = 0.5
