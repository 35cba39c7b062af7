"""One test body for the rate-limit counts, run over the in-memory twin and the Cosmos DB adapter
against the real stand-in: what the web chat's unit tests assume of memory is what production gets."""
from __future__ import annotations

import threading
import uuid

import pytest

from core.cosmos_counters import COUNTERS, CosmosCounters
from core.ratelimit import Limit, MemoryCounters, take, wait_seconds, window_start
from devstack.stack import COSMOS_KEY
from switchboard.errors import ConflictError


@pytest.fixture(params=["memory", "cosmos"])
def counters(request):
    if request.param == "memory":
        return MemoryCounters()
    return CosmosCounters.open(request.getfixturevalue("cosmos"), COSMOS_KEY, f"limits-{uuid.uuid4().hex[:8]}")


def test_a_window_allows_its_limit_then_refuses_until_the_next_window(counters):
    assert [counters.take("address:a", 600.0, 3, 60) for _ in range(5)] == [True] * 3 + [False] * 2
    assert counters.take("address:b", 600.0, 3, 60)  # keys are counted apart
    assert [counters.take("address:a", 660.0, 3, 60) for _ in range(4)] == [True] * 3 + [False]


def test_a_lower_limit_refuses_what_a_higher_one_counted(counters):
    assert counters.take("k", 0.0, 2, 60) and counters.take("k", 0.0, 2, 60)
    assert not counters.take("k", 0.0, 1, 60) and counters.take("k", 0.0, 3, 60)


def test_uses_at_the_same_moment_never_exceed_the_limit(counters):
    results, lock = [], threading.Lock()

    def use() -> None:
        for _ in range(5):
            try:
                outcome = counters.take("conversation:busy", 0.0, 12, 60)
            except ConflictError:  # lost too many writes in a row: refused by the web chat, never counted
                outcome = "conflict"
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) <= 12 and len(results) == 30
    assert results.count(True) == 12 or "conflict" in results
    assert not counters.take("conversation:busy", 0.0, results.count(True), 60)  # each True was counted


def test_a_cosmos_count_is_one_small_document_per_key_that_expires_after_its_window(cosmos):
    counters = CosmosCounters.open(cosmos, COSMOS_KEY, f"limits-{uuid.uuid4().hex[:8]}")
    counters.take("address:203.0.113.7:messages", 600.0, 5, 60)
    counters.take("address:203.0.113.7:messages", 660.0, 5, 60)
    doc = counters._c.read_item("address:203.0.113.7:messages", partition_key="address:203.0.113.7:messages")
    assert (doc["window"], doc["count"], doc["ttl"]) == (660.0, 1, 120)
    assert counters._c.id == COUNTERS


def test_fixed_windows_and_the_wait_until_the_next():
    limit = Limit(3, 60)
    assert window_start(1_000_079.5, 60) == 1_000_020
    assert wait_seconds(1_000_079.5, limit) == 1 and wait_seconds(1_000_020, limit) == 60
    memory = MemoryCounters()
    assert [take(memory, "k", limit, 1_000_030) for _ in range(4)] == [None] * 3 + [50]
    assert take(memory, "k", Limit(0, 60), 1_000_030) is None  # 0: no limit, nothing counted
