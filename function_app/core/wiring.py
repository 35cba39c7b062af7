"""Building the real adapters from the validated settings: the one place that imports the SDKs.

`get_deps()` is what every function calls: the worker's Deps, built on first use (after
function_app.py validated the settings). `use_deps()` hands a worker Deps built elsewhere, so a
test runs the app's own functions over the in-memory twins (`tests/pipeline.py`).
"""
from __future__ import annotations

import threading

import branches
from core.catalogue import CachedCatalogue
from core.channels import SendBirdChannel, WebchatChannel
from core.clients import NluClient, QnaClient, ShopClient
from core.cosmos import CosmosStores
from core.cosmos_counters import CosmosCounters
from core.deps import Deps
from core.ports import Services
from core.ratelimit import Limit
from core.settings import Settings, get_settings
from core.storage_queues import StorageQueues
from core.webchat import WebchatGuard, WebchatLimits
from switchboard.turns import SENDBIRD, WEBCHAT


def build(settings: Settings) -> Deps:
    stores = CosmosStores(settings.cosmos_endpoint, settings.cosmos_key, settings.cosmos_database,
                          settings.sdk_transport)
    return Deps(
        conversations=stores.conversations, turn_log=stores.turns, outbox=stores.outbox,
        queues=StorageQueues(settings.storage, settings.sdk_transport),
        nlu=NluClient(settings.nlu_url, settings.nlu_api_key, settings.nlu_timeout_seconds),
        services=Services(
            shop=ShopClient(settings.shop_api_url, settings.shop_api_key),
            qna=QnaClient(settings.qna_endpoint, settings.qna_api_key, settings.qna_project,
                          settings.qna_deployment),
            qna_min_confidence=settings.qna_min_confidence),
        channels={SENDBIRD: SendBirdChannel(settings.sendbird_api_url, settings.sendbird_api_token,
                                              settings.sendbird_bot_user_id),
                  WEBCHAT: WebchatChannel()},
        catalogue=CachedCatalogue(stores.catalogue.load, branches.all_templates()),
        webchat=WebchatGuard(settings.webchat_token_secret,
                             CosmosCounters.open(settings.cosmos_endpoint, settings.cosmos_key,
                                                 settings.cosmos_database, settings.sdk_transport),
                             webchat_limits(settings)),
        min_confidence=settings.nlu_min_confidence,
    )


def webchat_limits(settings: Settings) -> WebchatLimits:
    window = settings.webchat_limit_window_seconds
    return WebchatLimits(messages_per_conversation=Limit(settings.webchat_messages_per_conversation, window),
                         messages_per_address=Limit(settings.webchat_messages_per_address, window),
                         conversations_per_address=Limit(settings.webchat_conversations_per_address, window),
                         trusted_proxies=settings.webchat_trusted_proxies)


_deps: Deps | None = None
_lock = threading.Lock()


def get_deps() -> Deps:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build(get_settings())
    return _deps


def use_deps(deps: Deps | None) -> None:
    """The Deps every function of this worker gets from now on (None: build them again from the
    settings on next use)."""
    global _deps
    with _lock:
        _deps = deps
