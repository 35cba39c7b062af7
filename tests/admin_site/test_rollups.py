"""The dashboard's aggregation: pure tallies, histograms and chart series on known data; the roll-up
store (one test body over the in-memory twin and the Cosmos DB stand-in): roll-ups made once and then
read instead of the log, the open hours live, late turns counted after all, no double counting."""
from __future__ import annotations

import math
import random
import uuid

import pytest
from azure.cosmos import CosmosClient

from admin_site import rollups
from admin_site.documents import CosmosDocuments, MemoryDocuments
from admin_site.rollups import (
    ALPHA,
    GRACE_MS,
    HOUR,
    KIND,
    MINUTE,
    TurnRollups,
    add_turn,
    bucket_index,
    bucket_value,
    chart_data,
    empty_tally,
    merge,
    merge_histograms,
    percentile,
    tallies_by_bucket,
    tally_of,
)
from devstack.stack import COSMOS_KEY

T0 = 1_749_999_600_000  # a whole hour (epoch ms)
assert T0 % HOUR == 0


def turn(n: int, at: float, channel: str = "webchat", intent: str | None = "greeting", branch: str | None = "greeting",
         status: str = "delivered", oos: bool = False, timings: dict | None = None, updated_at: float | None = None,
         conversation: str | None = None) -> dict:
    """A turn log document shaped as `switchboard.turns.TurnRecord` writes it."""
    return {"id": f"{channel}:m{n}", "conversation_id": conversation or f"{channel}:c{n % 7}", "status": status,
            "channel": channel, "user_id": f"u{n}", "text": f"message {n}", "received_at": at,
            "nlu": None if intent is None and not oos else {
                "intent": {"name": intent, "confidence": 0.9}, "intent_ranking": [], "out_of_scope": oos,
                "entities": []},
            "branch": branch, "reply": "ok", "error": None,
            "timings": timings if timings is not None else {"understand": 20.0, "end_to_end": 100.0},
            "updated_at": at + 150 if updated_at is None else updated_at}


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def histogram(values: list[float]) -> dict[str, int]:
    return tally_of(turn(i, T0, timings={"s": v}) for i, v in enumerate(values))["latency"]["s"]


# ---- histograms and percentiles -------------------------------------------------------------------

def test_every_value_is_estimated_within_the_stated_relative_error():
    for v in [0.01, 0.013, 0.5, 1, 1.05, 7.3, 99.99, 100, 1234.5, 60_000, 3.6e6]:
        assert abs(bucket_value(bucket_index(v)) - v) <= ALPHA * v * (1 + 1e-9), v
    assert bucket_value(bucket_index(0)) == pytest.approx(bucket_value(bucket_index(-5)))  # clamped to 0.01 ms


@pytest.mark.parametrize("values", [
    [float(v) for v in range(1, 1001)],
    [random.Random(3).lognormvariate(3, 1) for _ in range(5000)],
    [5.0] * 90 + [900.0] * 10,
])
def test_percentiles_from_a_histogram_are_within_the_error_of_the_exact_ones(values):
    h = histogram(values)
    for p in (50, 90, 95, 99, 100):
        exact = nearest_rank(values, p)
        assert percentile(h, p) == pytest.approx(exact, rel=ALPHA), p
    assert percentile(h, 50) == pytest.approx(nearest_rank(values, 50), rel=ALPHA)


def test_merged_histograms_give_the_percentiles_of_all_their_values():
    rng = random.Random(5)
    parts = [[rng.lognormvariate(2 + i % 3, 0.7) for _ in range(300)] for i in range(24)]
    merged = merge_histograms(histogram(part) for part in parts)
    assert merged == histogram([v for part in parts for v in part])
    everything = [v for part in parts for v in part]
    assert percentile(merged, 95) == pytest.approx(nearest_rank(everything, 95), rel=ALPHA)
    assert percentile({}, 50) is None


# ---- tallies and chart data -----------------------------------------------------------------------

def test_a_tally_counts_channels_intents_statuses_and_the_rates_of_customer_turns():
    turns = [turn(1, T0, "sendbird", "greeting", "greeting"),
             turn(2, T0, "webchat", "order_status", "order_status"),
             turn(3, T0, "webchat", None, "fallback", oos=True),
             turn(4, T0, "webchat", "affirm", "fallback"),
             turn(5, T0, "sendbird", "cancel_order", "human_handoff"),
             turn(6, T0, "sendbird", "greeting", None, status="silent: handed off to an agent"),
             turn(7, T0, "webchat", None, None, status="failed"),  # the NLU service refused it: no nlu
             turn(8, T0, "webchat", "greeting", "greeting", status="parked"),
             turn(9, T0, "sendbird", None, "agent", timings={"deliver": 3.0})]  # an agent's reply
    t = tally_of(turns)
    assert t["turns"] == 8 and t["agent_replies"] == 1
    assert t["by_channel"] == {"sendbird": 3, "webchat": 5}
    assert t["by_intent"] == {"greeting": 3, "order_status": 1, "(none)": 2, "affirm": 1, "cancel_order": 1}
    assert (t["fallback"], t["out_of_scope"], t["handoff"], t["failed"]) == (2, 1, 1, 2)
    assert t["by_status"]["silent: handed off to an agent"] == 1
    assert "deliver" not in t["latency"]  # an agent's reply says nothing of the bot's latency
    assert sum(t["latency"]["end_to_end"].values()) == 8


def test_timings_that_are_not_numbers_are_skipped():
    t = tally_of([turn(1, T0, timings={"understand": "slow", "deliver": float("nan"), "end_to_end": 12})])
    assert list(t["latency"]) == ["end_to_end"]


def test_merging_tallies_adds_everything_up():
    a, b = tally_of([turn(1, T0, "sendbird")]), tally_of([turn(2, T0, branch="fallback"), turn(3, T0)])
    both = merge([a, b])
    assert both == tally_of([turn(1, T0, "sendbird"), turn(2, T0, branch="fallback"), turn(3, T0)])
    assert merge([]) == empty_tally()


def test_chart_data_has_one_point_per_step_with_empty_steps_as_zero_and_rates_as_none():
    turns = [turn(i, T0 + i * MINUTE, "sendbird" if i % 4 == 0 else "webchat",
                  branch="fallback" if i % 5 == 0 else "greeting",
                  timings={"webchat_messages": 1.0, "understand": 20.0, "intent_greeting": 5.0, "deliver": 3.0,
                           "end_to_end": 40.0 + i}) for i in range(60)]
    data = chart_data(tallies_by_bucket(turns, HOUR), T0, T0 + 3 * HOUR, HOUR)
    assert data["series"]["starts"] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert data["series"]["turns_by_channel"] == {"sendbird": [15, 0, 0], "webchat": [45, 0, 0]}
    assert data["series"]["rates"]["fallback"] == [0.2, None, None]
    assert data["totals"]["turns"] == 60
    rates = {r["name"]: r for r in data["rates"]}
    assert rates["fallback"]["turns"] == 12 and rates["fallback"]["rate"] == 0.2 and rates["handoff"]["rate"] == 0
    assert [s["step"] for s in data["latency"]] == ["webchat_messages", "understand", "intent_greeting", "deliver",
                                                     "end_to_end"]
    e2e = data["latency"][-1]
    assert e2e["p50"] == pytest.approx(69, rel=ALPHA) and e2e["p95"] == pytest.approx(96, rel=ALPHA)
    assert data["series"]["end_to_end"]["p95"][1:] == [None, None]
    assert data["intents"] == [{"name": "greeting", "turns": 60}]


def test_chart_data_of_nothing_is_empty_not_broken():
    data = chart_data({}, T0, T0 + 2 * HOUR, HOUR)
    assert data["totals"]["turns"] == 0 and data["intents"] == [] and data["latency"] == []
    assert data["series"]["turns_by_channel"] == {} and len(data["series"]["starts"]) == 2
    assert all(r["rate"] is None for r in data["rates"])


# ---- the store: one body over the in-memory twin and the Cosmos DB stand-in ------------------------

class Counting:
    """A Documents port that counts the queries made and the documents they returned."""

    def __init__(self, inner) -> None:
        self.inner, self.queries, self.returned = inner, 0, 0

    def find(self, *args, **kwargs):
        found = self.inner.find(*args, **kwargs)
        self.queries, self.returned = self.queries + 1, self.returned + len(found)
        return found

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Clock:
    def __init__(self, ms: float) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


@pytest.fixture(params=["memory", "cosmos"])
def stores(request):
    if request.param == "memory":
        return MemoryDocuments("turns", "/conversation_id"), MemoryDocuments("rollups", "/kind")
    client = CosmosClient(request.getfixturevalue("cosmos"), COSMOS_KEY, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"rollups-{uuid.uuid4().hex[:8]}")
    return CosmosDocuments(database, "turns", "/conversation_id"), CosmosDocuments(database, "rollups", "/kind")


def log_turns(turns_store, hours: int, per_hour: int = 3, start: int = T0) -> list[dict]:
    """`per_hour` turns in each of `hours` hours from `start`, alternating channels."""
    logged = []
    for h in range(hours):
        for k in range(per_hour):
            doc = turn(h * 100 + k, start + h * HOUR + k * 7 * MINUTE, "sendbird" if k % 2 else "webchat",
                       branch="fallback" if k == 0 else "greeting")
            turns_store.upsert(doc)
            logged.append(doc)
    return logged


def test_closed_hours_are_rolled_up_once_and_then_read_instead_of_the_log(stores):
    turns, rollup_docs = Counting(stores[0]), stores[1]
    log_turns(turns, hours=10)
    clock = Clock(T0 + 10 * HOUR + 20 * MINUTE)  # hours 0..9 closed (grace over), hour 10 open
    first = TurnRollups(turns, rollup_docs, clock).report(T0, int(clock.ms))
    assert first["totals"]["turns"] == 30 and first["source"]["rollups"] == 10
    assert rollup_docs.count(partition=KIND) == 10
    turns.queries = turns.returned = 0
    second = TurnRollups(turns, rollup_docs, clock).report(T0, int(clock.ms))
    assert second["totals"] == first["totals"] and second["series"] == first["series"]
    assert turns.queries == 2 and turns.returned == 0  # the late sweep and the open hour: nothing in either
    # the roll-ups, not the log, answer for closed hours: a turn slipped under a closed hour without
    # being logged late (updated_at old) stays uncounted
    turns.upsert(turn(999, T0 + 3 * HOUR + MINUTE, updated_at=T0 + 3 * HOUR + 2 * MINUTE))
    assert TurnRollups(turns, rollup_docs, clock).report(T0, int(clock.ms))["totals"]["turns"] == 30


def test_the_open_hours_are_live(stores):
    turns, rollup_docs = stores
    log_turns(turns, hours=5)
    clock = Clock(T0 + 5 * HOUR + 2 * MINUTE)  # hour 4 ended 2 minutes ago: still in its grace
    dash = TurnRollups(turns, rollup_docs, clock)
    before = dash.report(T0, int(clock.ms))
    assert before["totals"]["turns"] == 15 and before["source"]["rollups"] == 4  # hour 4 is live
    assert rollup_docs.get(KIND, rollups.rollup_id(T0 + 4 * HOUR)) is None
    turns.upsert(turn(500, T0 + 5 * HOUR + MINUTE, "sendbird"))  # just now, in the open hour
    turns.upsert(turn(501, T0 + 4 * HOUR + 59 * MINUTE, "sendbird"))  # a slow turn of the hour in grace
    after = dash.report(T0, int(clock.ms))
    assert after["totals"]["turns"] == 17
    assert after["series"]["turns_by_channel"]["sendbird"][-2:] == [2, 1]


def test_a_range_counts_only_the_turns_inside_it_even_within_rolled_up_hours(stores):
    turns, rollup_docs = stores
    log_turns(turns, hours=8)  # turns at :00, :07 and :14 of each hour
    clock = Clock(T0 + 9 * HOUR)
    dash = TurnRollups(turns, rollup_docs, clock)
    data = dash.report(T0 + 10 * MINUTE, T0 + 7 * HOUR + 5 * MINUTE)  # skips :00 and :07 of hour 0
    assert data["totals"]["turns"] == 1 + 6 * 3 + 1
    assert data["series"]["starts"][0] == T0 and data["series"]["starts"][-1] == T0 + 7 * HOUR
    assert data["source"]["rollups"] == 6  # hours 1..6; the partial hours 0 and 7 come from the log


def test_a_short_range_is_live_in_five_minute_steps_and_makes_no_rollups(stores):
    turns, rollup_docs = stores
    log_turns(turns, hours=3)
    clock = Clock(T0 + 3 * HOUR)
    data = TurnRollups(turns, rollup_docs, clock).report(T0 + 2 * HOUR, T0 + 3 * HOUR)
    assert data["step_ms"] == 5 * MINUTE and len(data["series"]["starts"]) == 12
    assert data["totals"]["turns"] == 3 and rollup_docs.count(partition=KIND) == 0
    assert data["series"]["turns_by_channel"]["webchat"][:4] == [1, 0, 1, 0]


def test_a_turn_logged_after_its_hour_was_rolled_up_is_counted_by_the_next_report(stores):
    turns, rollup_docs = Counting(stores[0]), stores[1]
    log_turns(turns, hours=6)
    clock = Clock(T0 + 6 * HOUR + 10 * MINUTE)
    dash = TurnRollups(turns, rollup_docs, clock)
    assert dash.report(T0, int(clock.ms))["totals"]["turns"] == 18
    stale = rollup_docs.get(KIND, rollups.rollup_id(T0 + 2 * HOUR))
    clock.ms += 3 * HOUR  # a message parked in hour 2 is rescued from its poison queue, and delivered
    turns.upsert(turn(777, T0 + 2 * HOUR + 30 * MINUTE, "sendbird", updated_at=clock.ms - 2 * MINUTE))
    again = dash.report(T0, T0 + 6 * HOUR)
    assert again["totals"]["turns"] == 19
    assert again["series"]["turns_by_channel"]["sendbird"][2] == 2
    assert rollup_docs.get(KIND, rollups.rollup_id(T0 + 2 * HOUR))["_etag"] != stale["_etag"]
    assert rollup_docs.get(KIND, rollups.rollup_id(T0 + 3 * HOUR))["computed_at"] == stale["computed_at"]
    turns.queries = 0
    clock.ms += MINUTE
    assert dash.report(T0, T0 + 6 * HOUR)["totals"]["turns"] == 19  # swept once: not recomputed again
    assert turns.queries == 1  # the sweep; every hour of the range comes from a roll-up


def test_a_slow_turn_logged_before_its_hour_was_rolled_up_causes_no_recomputation(stores):
    turns, rollup_docs = stores
    log_turns(turns, hours=3)
    turns.upsert(turn(42, T0 + 30 * MINUTE, updated_at=T0 + 2 * HOUR))  # logged 90 minutes late
    clock = Clock(T0 + 3 * HOUR + 10 * MINUTE)
    dash = TurnRollups(turns, rollup_docs, clock)
    assert dash.report(T0, int(clock.ms))["totals"]["turns"] == 10
    made = rollup_docs.get(KIND, rollups.rollup_id(T0))
    clock.ms += 10 * MINUTE
    assert dash.report(T0, int(clock.ms))["totals"]["turns"] == 10
    assert rollup_docs.get(KIND, rollups.rollup_id(T0))["_etag"] == made["_etag"]


class ReadsNothingFirst:
    """A roll-up store as a second process sees it when it read just before the first one wrote."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def find(self, *args, **kwargs):
        return []

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_two_processes_rolling_up_the_same_hours_do_not_double_count(stores):
    turns, rollup_docs = stores
    log_turns(turns, hours=4)
    clock = Clock(T0 + 4 * HOUR + 30 * MINUTE)
    first = TurnRollups(turns, rollup_docs, clock).report(T0, int(clock.ms))
    racing = TurnRollups(turns, ReadsNothingFirst(rollup_docs), clock).report(T0, int(clock.ms))
    assert racing["totals"] == first["totals"] and racing["totals"]["turns"] == 12
    assert rollup_docs.count(partition=KIND) == 4  # one document per hour: the second create lost


def test_an_empty_log_gives_empty_rollups_and_an_empty_report(stores):
    turns, rollup_docs = stores
    clock = Clock(T0 + 30 * HOUR)
    data = TurnRollups(turns, rollup_docs, clock).report(T0, int(clock.ms))
    assert data["totals"]["turns"] == 0 and len(data["series"]["starts"]) == 30
    assert rollup_docs.count(partition=KIND) == 29  # the closed hours, so that they are not computed again


def test_missing_hours_are_read_from_the_log_in_runs_of_a_few_hours(stores):
    turns, rollup_docs = Counting(stores[0]), stores[1]
    log_turns(turns, hours=20, per_hour=1)
    clock = Clock(T0 + 20 * HOUR + 10 * MINUTE)
    TurnRollups(turns, rollup_docs, clock).report(T0, int(clock.ms))
    assert turns.queries == 1 + math.ceil(20 / rollups.FETCH_HOURS)  # the live part, then the runs
    assert rollup_docs.count(partition=KIND) == 20


def test_grace_is_what_keeps_an_hour_live():
    assert rollups.closed_horizon(T0 + GRACE_MS - 1) == T0 - HOUR
    assert rollups.closed_horizon(T0 + GRACE_MS) == T0


def test_add_turn_ignores_documents_without_a_received_time():
    assert tallies_by_bucket([{"id": "x", "channel": "webchat"}], HOUR) == {}
    t = empty_tally()
    add_turn(t, {"id": "x"})
    assert t["turns"] == 1 and t["by_channel"] == {"(none)": 1}
