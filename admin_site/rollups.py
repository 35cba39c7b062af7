"""Roll-ups of the turn log, so that the dashboard stays fast as the log grows.

The Cosmos DB stand-in has no GROUP BY, and even real Cosmos DB would charge for reading every turn
of a week on every view. So each closed hour of the turn log is aggregated once, in code, into one
roll-up document (container "rollups", partition /kind, kind "turns-hour"): counts by channel, by
intent and by status, the rate counters, and per step a latency histogram. A query over a range then
reads the roll-ups of its whole closed hours (7 days: at most 168 documents, one query) and
aggregates live, from the turn log, only what no roll-up covers: the partial hours at its edges and
the hours not yet closed (a bounded query: at most about two hours of turns).

- An hour is closed, and may be rolled up, `GRACE_MS` after it ends: a turn is logged by the step
  that ends it, normally within seconds of being received, and it is bucketed by `received_at`.
- Whichever request first needs a closed hour computes its roll-up and creates it if absent, with a
  deterministic id: two admin-site processes doing it at once both compute the same document, one
  create wins, the other takes the stored one. A roll-up is computed wholesale from the log, never
  incremented, so nothing is counted twice.
- A turn logged after its hour was rolled up (a message rescued from a poison queue hours later, a
  turn that kept failing for longer than the grace) is found by the late sweep that starts every
  report: the turns logged (`updated_at`) since the previous sweep that were received before the
  closed horizon. Their roll-ups, when older than them, are deleted and computed again. The sweep's
  watermark lives in the "rollups" container too (kind "meta"), and a request creates roll-ups
  only for hours that the watermark it advanced covers, so no late turn slips between two sweeps.
- Latency histograms have log-spaced buckets (relative accuracy `ALPHA`, as in DDSketch): a
  percentile read from merged histograms is within 5 % of the exact nearest-rank percentile of the
  same turns (values under 0.01 ms count as 0.01 ms).

Pure functions over plain dicts (tally, merge, percentile, series) come first; `TurnRollups`, over
two `Documents` ports, is the store side.
"""
from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from admin_site.ports import Doc, Documents
from switchboard.errors import ConflictError
from switchboard.turns import AGENT, FAILED, HUMAN_HANDOFF, PARKED

log = logging.getLogger(__name__)

MINUTE = 60_000
HOUR = 60 * MINUTE
BUCKET_MS = HOUR  # one roll-up document per hour of received_at
GRACE_MS = 5 * MINUTE  # an hour is rolled up this long after it ends
SKEW_MS = MINUTE  # clocks of the function app and the admin site may differ this much
LIVE_SPAN_MS = 3 * HOUR  # a range this short is aggregated live, in FINE_STEP_MS points
FINE_STEP_MS = 5 * MINUTE
FETCH_HOURS = 6  # hours of the log read by one query when computing missing roll-ups
KIND = "turns-hour"
META_KIND, SWEEP_ID = "meta", "late-turns-sweep"
VERSION = 1  # bump when the tally's shape changes: roll-ups of another version are ignored
ALPHA = 0.05  # relative accuracy of a percentile read from a histogram
GAMMA = (1 + ALPHA) / (1 - ALPHA)
MIN_MS = 0.01
RATES = {  # counter -> what it counts, out of customer turns
    "fallback": "answered by the fallback branch",
    "out_of_scope": "the NLU model called out of scope",
    "handoff": "routed to the human_handoff branch",
    "failed": "failed or parked (the customer got an apology or nothing)",
}

Tally = dict[str, Any]
Histogram = dict[str, int]  # str(bucket index) -> count (str: JSON keys)


# ---- histograms ---------------------------------------------------------------------------------

def bucket_index(ms: float) -> int:
    """The log-spaced bucket holding `ms`: (GAMMA**(i-1), GAMMA**i]."""
    return math.ceil(math.log(max(ms, MIN_MS)) / math.log(GAMMA))


def bucket_value(index: int) -> float:
    """The estimate for every value of bucket `index`: within ALPHA of each, relatively."""
    return 2 * GAMMA ** index / (GAMMA + 1)


def merge_histograms(histograms: Iterable[Mapping[str, int]]) -> Histogram:
    merged: Counter[str] = Counter()
    for h in histograms:
        merged.update(h)
    return dict(merged)


def percentile(histogram: Mapping[str, int], p: float) -> float | None:
    """The nearest-rank p-th percentile (the smallest value with at least p % of them at or below it),
    read from a histogram; None when it is empty."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank, seen = max(1, math.ceil(p / 100 * n)), 0
    for index in sorted(histogram, key=int):
        seen += histogram[index]
        if seen >= rank:
            return bucket_value(int(index))
    raise AssertionError("unreachable: the ranks add up to n")


# ---- tallies: what one bucket (or a whole range) adds up to --------------------------------------

def empty_tally() -> Tally:
    return {"turns": 0, "agent_replies": 0, "by_channel": {}, "by_intent": {}, "by_status": {},
            **{rate: 0 for rate in RATES}, "latency": {}}


def _bump(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def add_turn(tally: Tally, turn: Mapping[str, Any]) -> None:
    """Count one turn document of the log (`switchboard.turns.TurnRecord`) into `tally`."""
    if turn.get("branch") == AGENT:
        tally["agent_replies"] += 1
        return
    nlu = turn.get("nlu") or {}
    intent = (nlu.get("intent") or {}).get("name") or "(none)"
    status = str(turn.get("status") or "(none)")
    tally["turns"] += 1
    _bump(tally["by_channel"], str(turn.get("channel") or "(none)"))
    _bump(tally["by_intent"], str(intent))
    _bump(tally["by_status"], status)
    tally["fallback"] += turn.get("branch") == "fallback"
    tally["out_of_scope"] += bool(nlu.get("out_of_scope"))
    tally["handoff"] += turn.get("branch") == HUMAN_HANDOFF
    tally["failed"] += status in (FAILED, PARKED)
    for step, ms in (turn.get("timings") or {}).items():
        if isinstance(ms, (int, float)) and math.isfinite(ms):
            _bump(tally["latency"].setdefault(str(step), {}), str(bucket_index(ms)))


def tally_of(turns: Iterable[Mapping[str, Any]]) -> Tally:
    tally = empty_tally()
    for turn in turns:
        add_turn(tally, turn)
    return tally


def merge(tallies: Iterable[Mapping[str, Any]]) -> Tally:
    """One tally of many (roll-ups or live buckets): counts add, histograms merge."""
    total = empty_tally()
    latency: dict[str, list[Mapping[str, int]]] = {}
    for t in tallies:
        for key in ("turns", "agent_replies", *RATES):
            total[key] += t.get(key, 0)
        for key in ("by_channel", "by_intent", "by_status"):
            for name, n in t.get(key, {}).items():
                _bump(total[key], name, n)
        for step, h in t.get("latency", {}).items():
            latency.setdefault(step, []).append(h)
    total["latency"] = {step: merge_histograms(hs) for step, hs in latency.items()}
    return total


def floor_to(ms: float, step: int) -> int:
    return int(ms // step * step)


def ceil_to(ms: float, step: int) -> int:
    return int(-(-ms // step) * step)


def tallies_by_bucket(turns: Iterable[Mapping[str, Any]], step: int) -> dict[int, Tally]:
    """Turns grouped by the `step`-long bucket of their received_at."""
    buckets: dict[int, Tally] = {}
    for turn in turns:
        received = turn.get("received_at")
        if isinstance(received, (int, float)):
            add_turn(buckets.setdefault(floor_to(received, step), empty_tally()), turn)
    return buckets


# ---- the report: chart series and totals ----------------------------------------------------------

def _step_order(step: str) -> int:
    """Steps in the order a turn goes through them: channel, understand, branches, deliver, total."""
    if step in ("sendbird_webhook", "webchat_messages"):
        return 0
    return {"understand": 1, "deliver": 3, "end_to_end": 4}.get(step, 2)


def _ratio(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def chart_data(points: Mapping[int, Mapping[str, Any]], start: int, end: int, step: int) -> dict[str, Any]:
    """What the dashboard draws, from the tallies of the buckets (`step` long) of [start, end)."""
    starts = list(range(floor_to(start, step), end, step))
    series = [points.get(s) or empty_tally() for s in starts]
    total = merge(series)
    channels = sorted(total["by_channel"])
    latency = [{"step": name, "turns": sum(h.values()), "p50": _ms(percentile(h, 50)),
                "p95": _ms(percentile(h, 95))} for name, h in total["latency"].items()]
    latency.sort(key=lambda row: (_step_order(row["step"]), row["step"]))
    e2e = [t["latency"].get("end_to_end", {}) for t in series]
    return {
        "from": start, "to": end, "step_ms": step,
        "totals": {"turns": total["turns"], "agent_replies": total["agent_replies"],
                   "by_channel": total["by_channel"], "by_status": total["by_status"]},
        "rates": [{"name": name, "meaning": meaning, "turns": total[name],
                   "rate": _ratio(total[name], total["turns"])} for name, meaning in RATES.items()],
        "intents": [{"name": name, "turns": n} for name, n in
                    sorted(total["by_intent"].items(), key=lambda kv: (-kv[1], kv[0]))],
        "latency": latency, "latency_relative_error": ALPHA,
        "series": {
            "starts": starts,
            "turns_by_channel": {ch: [t["by_channel"].get(ch, 0) for t in series] for ch in channels},
            "rates": {name: [_ratio(t[name], t["turns"]) for t in series] for name in RATES},
            "end_to_end": {"p50": [_ms(percentile(h, 50)) for h in e2e],
                           "p95": [_ms(percentile(h, 95)) for h in e2e]},
        },
    }


# ---- the store side -------------------------------------------------------------------------------

def rollup_id(start: int) -> str:
    return f"{KIND}-v{VERSION}-{start}"


def closed_horizon(now: float) -> int:
    """Hours that end at or before this instant are closed (their grace is over)."""
    return floor_to(now - GRACE_MS, BUCKET_MS)


class TurnRollups:
    """The dashboard's reads: roll-ups of closed hours (computed on first need), the rest live."""

    def __init__(self, turns: Documents, rollups: Documents, clock: Callable[[], float] = time.time) -> None:
        self.turns, self.rollups, self._clock = turns, rollups, clock

    def now(self) -> float:
        return self._clock() * 1000.0

    def report(self, start: int, end: int) -> dict[str, Any]:
        """The dashboard's data for [start, end) (epoch ms; `end` at most now)."""
        if end - start <= LIVE_SPAN_MS:  # all live: no roll-up is read or made, so no sweep either
            live = self._turns_between(start, end)
            points = tallies_by_bucket(live, FINE_STEP_MS)
            return {**chart_data(points, start, end, FINE_STEP_MS),
                    "source": {"rollups": 0, "live_turns": len(live)}}
        horizon = min(closed_horizon(self.now()), self.sweep_late_turns())
        first, last = ceil_to(start, BUCKET_MS), min(floor_to(end, BUCKET_MS), horizon)
        stored = self.hours(list(range(first, last, BUCKET_MS)))
        live = self._turns_outside(start, end, first, max(first, last))
        points: dict[int, Tally] = {**tallies_by_bucket(live, BUCKET_MS), **stored}
        return {**chart_data(points, start, end, BUCKET_MS),
                "source": {"rollups": len(stored), "live_turns": len(live)}}

    # -- roll-ups of closed hours

    def hours(self, hours: list[int]) -> dict[int, Doc]:
        """The roll-ups of these closed hours, computing those that are missing."""
        if not hours:
            return {}
        found = self.rollups.find([("start", ">=", hours[0]), ("start", "<=", hours[-1]),
                                   ("version", "=", VERSION)], partition=KIND)
        stored = {int(doc["start"]): doc for doc in found}
        missing = [h for h in hours if h not in stored]
        for run in _runs(missing, FETCH_HOURS):
            stored.update(self._roll_up(run))
        return stored

    def _roll_up(self, hours: list[int]) -> dict[int, Doc]:
        """Compute the roll-ups of consecutive closed hours from one query of the log, and create
        each if absent (another process may have created it meanwhile: then its version stands)."""
        computed_at = self.now()
        turns = self.turns.find([("received_at", ">=", hours[0]), ("received_at", "<", hours[-1] + BUCKET_MS)])
        by_hour = tallies_by_bucket(turns, BUCKET_MS)
        created: dict[int, Doc] = {}
        for hour in hours:
            doc = {"id": rollup_id(hour), "kind": KIND, "version": VERSION, "start": hour,
                   "end": hour + BUCKET_MS, "computed_at": computed_at, **(by_hour.get(hour) or empty_tally())}
            try:
                created[hour] = self.rollups.save(doc, etag=None)
            except ConflictError as lost:
                created[hour] = lost.current or doc
        log.info("rolled up %d hour(s) from %d turn(s)", len(hours), len(turns))
        return created

    # -- live parts

    def _turns_between(self, start: float, end: float) -> list[Doc]:
        return self.turns.find([("received_at", ">=", start), ("received_at", "<", end)])

    def _turns_outside(self, start: int, end: int, first: int, last: int) -> list[Doc]:
        """Turns of [start, end) outside the rolled-up hours [first, last): one bounded query (none
        when the roll-ups cover the whole range)."""
        if first >= last:
            return self._turns_between(start, end)
        edges = []
        if start < first:
            edges.append(("received_at", "<", first))
        if last < end:
            edges.append(("received_at", ">=", last))
        if not edges:
            return []
        return self.turns.find([("received_at", ">=", start), ("received_at", "<", end), ("or", edges)])

    # -- late turns

    def sweep_late_turns(self) -> int:
        """Delete the roll-ups that turns logged since the last sweep belong in; returns the closed
        horizon up to which this request may create roll-ups (the watermark it could advance)."""
        now = self.now()
        meta = self.rollups.get(META_KIND, SWEEP_ID)
        if meta is None:  # the first sweep ever: no roll-up exists that a turn could be late for
            try:
                self.rollups.save({"id": SWEEP_ID, "kind": META_KIND, "watermark": now}, etag=None)
                return closed_horizon(now)
            except ConflictError as lost:
                meta = lost.current
                if meta is None:
                    return closed_horizon(now - BUCKET_MS)
        watermark = float(meta["watermark"])
        late = self.turns.find([("updated_at", ">=", watermark - SKEW_MS),
                                ("received_at", "<", closed_horizon(watermark))])
        stale = 0
        for hour, logged in _latest_by_hour(late).items():
            rollup = self.rollups.get(KIND, rollup_id(hour))
            if rollup is not None and rollup["computed_at"] < logged + SKEW_MS:
                try:
                    self.rollups.delete(KIND, rollup["id"], etag=rollup["_etag"])
                    stale += 1
                except ConflictError:
                    pass  # replaced meanwhile, by a process that read the log after this turn
        if stale:
            log.info("late turns: %d roll-up(s) to compute again", stale)
        return closed_horizon(self._advance(meta, now))

    def _advance(self, meta: Doc, now: float) -> float:
        """Move the watermark to `now` (never back); returns the watermark that is stored."""
        for _ in range(5):
            if float(meta["watermark"]) >= now:
                return float(meta["watermark"])
            try:
                return float(self.rollups.save({**meta, "watermark": now}, etag=meta["_etag"])["watermark"])
            except ConflictError as lost:
                if lost.current is None:
                    return now - BUCKET_MS - GRACE_MS  # deleted under us: create nothing this time
                meta = lost.current
        return float(meta["watermark"])


def _latest_by_hour(turns: Iterable[Mapping[str, Any]]) -> dict[int, float]:
    latest: dict[int, float] = {}
    for turn in turns:
        hour, logged = floor_to(turn["received_at"], BUCKET_MS), float(turn.get("updated_at") or 0)
        latest[hour] = max(latest.get(hour, 0.0), logged)
    return latest


def _runs(hours: list[int], longest: int) -> list[list[int]]:
    """Consecutive hours in runs of at most `longest`."""
    runs: list[list[int]] = []
    for hour in hours:
        if runs and hour == runs[-1][-1] + BUCKET_MS and len(runs[-1]) < longest:
            runs[-1].append(hour)
        else:
            runs.append([hour])
    return runs
