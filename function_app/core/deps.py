"""Everything a step needs, built once per worker from the validated settings and passed in."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from core.channels import Channel, SendBirdChannel, WebchatChannel
from core.clients import NluClient, QnaClient, ShopClient
from core.ports import Services
from core.settings import Settings, get_settings
from core.stores import ConversationStore, Outbox, TurnLog


class Queues(Protocol):
    def send(self, queue: str, text: str) -> None: ...


class Nlu(Protocol):
    def parse(self, text: str) -> dict: ...


@dataclass
class Deps:
    conversations: ConversationStore
    turn_log: TurnLog
    outbox: Outbox
    queues: Queues
    nlu: Nlu
    services: Services
    channels: dict[str, Channel]
    min_confidence: float = 0.5


def build(settings: Settings) -> Deps:
    from core.cosmos import CosmosStores  # imported here: unit tests use memory adapters only
    from core.queues import StorageQueues

    stores = CosmosStores(settings.cosmos_endpoint, settings.cosmos_key, settings.cosmos_database)
    return Deps(
        conversations=stores.conversations, turn_log=stores.turns, outbox=stores.outbox,
        queues=StorageQueues(settings.storage_connection),
        nlu=NluClient(settings.nlu_url, settings.nlu_timeout_seconds),
        services=Services(
            shop=ShopClient(settings.shop_api_url, settings.shop_api_key),
            qna=QnaClient(settings.qna_endpoint, settings.qna_api_key, settings.qna_project,
                          settings.qna_deployment),
            options={"qna_min_confidence": settings.qna_min_confidence}),
        channels={"sendbird": SendBirdChannel(settings.sendbird_api_url, settings.sendbird_api_token,
                                              settings.sendbird_bot_user_id),
                  "webchat": WebchatChannel()},
        min_confidence=settings.nlu_min_confidence,
    )


_deps: Deps | None = None
_lock = threading.Lock()


def get_deps() -> Deps:
    """The worker's Deps, built on first use (after function_app.py validated the settings)."""
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build(get_settings())
    return _deps
