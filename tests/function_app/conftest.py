"""Fixtures of the function app's unit tests: memory adapters, a fake NLU, the in-memory pipeline."""
from __future__ import annotations

import pytest

import branches
from core.catalogue import CachedCatalogue
from core.deps import Deps
from core.memory import (
    MemoryCatalogue,
    MemoryChannel,
    MemoryConversationStore,
    MemoryOutbox,
    MemoryQna,
    MemoryQueues,
    MemoryShop,
    MemoryTurnLog,
)
from core.ports import Answer, Order, Product, Services
from core.ratelimit import Limit, MemoryCounters
from core.webchat import WebchatGuard, WebchatLimits
from pipeline import FakeNlu, Pipeline

WEBCHAT_SECRET = "webchat-token-secret-of-the-unit-tests"
WEBCHAT_LIMITS = WebchatLimits(messages_per_conversation=Limit(20, 60), messages_per_address=Limit(60, 60),
                               conversations_per_address=Limit(10, 60))


@pytest.fixture
def shop() -> MemoryShop:
    return MemoryShop(
        products=[Product("RS-100", "Pegasus running shoes", "Nike", "blue", 119.99),
                  Product("RS-101", "Pegasus running shoes", "Nike", "black", 119.99),
                  Product("RS-103", "Gel-Kayano running shoes", "Asics", "blue", 159.0),
                  Product("RS-105", "Vaporfly running shoes", "Nike", "blue", 249.99),
                  Product("JK-200", "Thermoball jacket", "North Face", "black", 199.0)],
        orders=[Order("A-1234", "out for delivery", "today by 6 pm"), Order("C-9001", "delivered")])


@pytest.fixture
def catalogue() -> MemoryCatalogue:
    """What admins saved; the pipeline reads it afresh on every turn (refresh_seconds=0)."""
    return MemoryCatalogue()


@pytest.fixture
def deps(shop, catalogue) -> Deps:
    return Deps(conversations=MemoryConversationStore(), turn_log=MemoryTurnLog(), outbox=MemoryOutbox(),
                queues=MemoryQueues(), nlu=FakeNlu(),
                services=Services(shop=shop, qna=MemoryQna({"return": Answer("30 days to return.", 0.9)}),
                                  qna_min_confidence=0.3),
                channels={"webchat": MemoryChannel(), "sendbird": MemoryChannel()},
                catalogue=CachedCatalogue(catalogue.load, branches.all_templates(), refresh_seconds=0),
                webchat=WebchatGuard(WEBCHAT_SECRET, MemoryCounters(), WEBCHAT_LIMITS),
                min_confidence=0.5)


@pytest.fixture
def pipeline(deps):
    pipeline = Pipeline(deps)
    yield pipeline
    pipeline.close()
