"""The turn log as the admin pages read it (`TurnLog`): filters, pages, one conversation's
transcript, the review queue and its marks; and the shape a turn takes on a page.

The function app writes one document per turn (container `turns`, partition /conversation_id,
`switchboard.turns.TurnRecord`). A busy log holds hundreds of thousands, so every read here is a
TOP-limited query over indexed fields: the list pages with a `received_at` cursor (the Cosmos DB
stand-in has no OFFSET/LIMIT, and OFFSET costs as much as reading what it skips anyway) and a
transcript reads one partition. `TurnLog` queries through the `Documents` port, so the in-memory twin
and Cosmos DB answer the same conditions (one contract test body runs over both); what it returns
are `TurnRecord`s, and everything else here is plain functions over them.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from admin_site.ports import Condition, Doc, Documents
from nlu.artifact import FAST, TRANSFORMER
from switchboard.envelope import valid_id
from switchboard.errors import ConflictError
from switchboard.turns import FALLBACK, TurnRecord

PAGE_SIZE = 50  # turns on one page of the log
QUEUE_SIZE = 25  # turns on one page of the review queue (each carries a form)
TRANSCRIPT_SIZE = 500  # turns of one conversation on one page
MAX_FILTER_CHARS = 200
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


# ---- filters ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """What the log is narrowed to; `since` inclusive, `until` exclusive, both epoch milliseconds."""
    channel: str = ""
    intent: str = ""
    branch: str = ""
    status: str = ""
    since: float | None = None
    until: float | None = None
    text: dict[str, str] = field(default_factory=dict, compare=False)  # what was typed, to refill the form

    def conditions(self) -> list[Condition]:
        where: list[Condition] = [(name, "=", value) for name, value in (
            ("channel", self.channel), ("nlu.intent.name", self.intent), ("branch", self.branch),
            ("status", self.status)) if value]
        if self.since is not None:
            where.append(("received_at", ">=", self.since))
        if self.until is not None:
            where.append(("received_at", "<", self.until))
        return where

    def args(self) -> dict[str, str]:
        """The query-string parameters that give these filters again (for the paging links)."""
        return {k: v for k, v in self.text.items() if v}


def parse_time(raw: str, end_of_day: bool = False) -> float:
    """`2026-05-01` or `2026-05-01T14:30` (UTC) as epoch milliseconds; a bare date as `to` means the
    end of that day, which is what someone who picks a day means."""
    raw = raw.strip()
    for fmt in _TIME_FORMATS:
        try:
            moment = dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        if end_of_day and fmt == "%Y-%m-%d":
            moment += dt.timedelta(days=1)
        return moment.timestamp() * 1000.0
    raise ValueError(f"{raw!r} is not a time: write 2026-05-01 or 2026-05-01T14:30 (UTC)")


def parse_filters(args: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """The filters of a query string, and what is wrong with them (the page names each problem)."""
    text = {k: (args.get(k) or "").strip() for k in ("channel", "intent", "branch", "status", "from", "to")}
    problems = [f"{k} is longer than {MAX_FILTER_CHARS} characters" for k, v in text.items()
                if len(v) > MAX_FILTER_CHARS]
    times: dict[str, float | None] = {"from": None, "to": None}
    for key in times:
        if text[key] and not problems:
            try:
                times[key] = parse_time(text[key], end_of_day=key == "to")
            except ValueError as e:
                problems.append(f"{key}: {e}")
    if times["from"] is not None and times["to"] is not None and times["from"] >= times["to"]:
        problems.append("from must be before to")
    filters = Filters(text["channel"], text["intent"], text["branch"], text["status"], times["from"],
                      times["to"], text)
    return filters, problems


# ---- paging --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: at `received_at` = `at`, without the turns already shown there
    (`seen`). Turns logged in the same millisecond are neither skipped nor shown twice."""
    at: float
    seen: tuple[str, ...] = ()

    def encode(self) -> str:
        return f"{self.at!r}~{','.join(self.seen)}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        at, _, ids = raw.partition("~")
        try:
            moment = float(at)
        except ValueError:
            moment = math.nan
        seen = tuple(i for i in ids.split(",") if i)
        if not math.isfinite(moment) or not all(valid_id(i) for i in seen) or len(seen) > 10 * PAGE_SIZE:
            raise ValueError("the paging link is damaged: start again from the newest")
        return cls(moment, seen)


@dataclass
class Page:
    turns: list[TurnRecord]
    next: Cursor | None  # the following page (older, or later in a transcript), if there is one


def following(shown: list[Doc], cursor: Cursor | None) -> Cursor:
    """The cursor after `shown` (a full page, the one `cursor` led to)."""
    at = shown[-1]["received_at"]
    seen = [d["id"] for d in shown if d.get("received_at") == at]
    if cursor is not None and cursor.at == at:
        seen = list(cursor.seen) + seen
    return Cursor(at, tuple(seen))


# ---- the review queue ---------------------------------------------------------------------------
def review_conditions(min_confidence: float) -> list[Condition]:
    """Turns worth a person's look that nobody has reviewed yet: the model said out of scope, or was
    unsure (below the bot's own threshold, or no intent at all), or the fallback answered."""
    return [("review", "defined", False),
            ("or", [("nlu.out_of_scope", "=", True), ("nlu.intent.confidence", "<", min_confidence),
                    ("nlu.intent", "=", None), ("branch", "=", FALLBACK)])]


def review_reasons(turn: TurnRecord, min_confidence: float) -> list[str]:
    """Why a turn is in the review queue, in words (the same tests as `review_conditions`)."""
    reasons = []
    if turn.nlu.get("out_of_scope") is True:
        reasons.append("out of scope")
    confidence = turn.intent.get("confidence")
    if turn.nlu and turn.nlu.get("intent", {}) is None:
        reasons.append("no intent")
    elif isinstance(confidence, (int, float)) and confidence < min_confidence:
        reasons.append(f"low confidence ({confidence:.2f} < {min_confidence:.2f})")
    if turn.branch == FALLBACK:
        reasons.append("answered by fallback")
    return reasons


class AlreadyReviewed(Exception):
    """Someone reviewed the turn first; `review` is their mark."""

    def __init__(self, review: dict[str, Any]) -> None:
        super().__init__(f"already reviewed by {review.get('by')}")
        self.review = review


class TurnGone(LookupError):
    """The turn is not (or no longer) in the log."""


def review_mark(action: str, by: str, intent: str | None = None,
                example: str | None = None) -> dict[str, Any]:
    return {"action": action, "intent": intent, "example": example, "by": by, "at": time.time() * 1000.0}


# ---- the reader ---------------------------------------------------------------------------------
class TurnLog:
    """The turn log over its container: the pages' reads, and the review marks (the only thing the
    admin site writes on a turn)."""

    def __init__(self, docs: Documents) -> None:
        self._docs = docs

    def page(self, filters: Filters, cursor: Cursor | None = None, size: int = PAGE_SIZE) -> Page:
        """The log narrowed to `filters`, newest first, after `cursor`."""
        return self._page(filters.conditions(), cursor, size)

    def review_queue(self, min_confidence: float, cursor: Cursor | None = None, size: int = QUEUE_SIZE) -> Page:
        """The turns `review_conditions` picks, newest first, after `cursor`."""
        return self._page(review_conditions(min_confidence), cursor, size)

    def transcript(self, conversation_id: str, cursor: Cursor | None = None, size: int = TRANSCRIPT_SIZE) -> Page:
        """One conversation in the order it happened: a query within its partition only."""
        return self._page([], cursor, size, descending=False, partition=conversation_id)

    def latest(self, conversation_id: str, limit: int) -> list[TurnRecord]:
        """A conversation's latest `limit` turns, oldest first."""
        found = self._docs.find(partition=conversation_id, order_by="received_at", descending=True, top=limit)
        return [TurnRecord.from_doc(d) for d in reversed(found)]

    def logged_after(self, conversation_id: str, after: float, limit: int) -> list[TurnRecord]:
        """A conversation's turns logged (or logged again) after `after` (`updated_at`, epoch ms), in
        that order: a turn is logged when it ends, so a cursor on when it was received would miss a
        slow turn that ended after a quicker, later one."""
        found = self._docs.find([("updated_at", ">", after)], partition=conversation_id, order_by="updated_at",
                                top=limit)
        return [TurnRecord.from_doc(d) for d in found]

    def get(self, conversation_id: str, turn_id: str) -> TurnRecord | None:
        found = self._docs.get(conversation_id, turn_id)
        return None if found is None else TurnRecord.from_doc(found)

    def mark_reviewed(self, turn: TurnRecord, review: dict[str, Any], attempts: int = 10) -> TurnRecord:
        """Put `review` on the turn with its ETag, so it leaves the queue. A conflict reads the turn again:
        if the function app rewrote it meanwhile the mark goes on the new version (never over it); if
        another editor marked it first, `AlreadyReviewed`, and the caller adds nothing."""
        current = self._docs.get(turn.conversation_id, turn.id)
        for _ in range(attempts):
            if current is None:
                raise TurnGone(turn.id)
            if current.get("review"):
                raise AlreadyReviewed(current["review"])
            try:
                return TurnRecord.from_doc(self._docs.save({**current, "review": review}, current["_etag"]))
            except ConflictError as e:
                current = e.current
        raise ConflictError(current=current)

    def unmark(self, turn: TurnRecord, review: dict[str, Any], attempts: int = 10) -> None:
        """Take back our own mark (the action it claimed failed); anyone else's mark stays."""
        current = self._docs.get(turn.conversation_id, turn.id)
        for _ in range(attempts):
            if current is None or current.get("review") != review:
                return
            try:
                self._docs.save({k: v for k, v in current.items() if k != "review"}, current["_etag"])
                return
            except ConflictError as e:
                current = e.current

    def _page(self, where: list[Condition], cursor: Cursor | None, size: int, descending: bool = True,
              partition: str | None = None) -> Page:
        """One page of turns ordered by `received_at`, after `cursor`: a single TOP query."""
        conditions = list(where)
        top = size + 1
        if cursor is not None:
            conditions.append(("received_at", "<=" if descending else ">=", cursor.at))
            top += len(cursor.seen)
        found = self._docs.find(conditions, partition=partition, order_by="received_at", descending=descending,
                                top=top)
        if cursor is not None:
            found = [d for d in found if not (d.get("received_at") == cursor.at and d["id"] in cursor.seen)]
        shown = found[:size]
        return Page([TurnRecord.from_doc(d) for d in shown],
                    following(shown, cursor) if len(found) > size else None)


# ---- shaping a turn for a page ------------------------------------------------------------------
def when(epoch_ms: Any) -> str:
    """`2026-05-01 14:30:05.123` (UTC) from epoch milliseconds."""
    if not isinstance(epoch_ms, (int, float)) or not math.isfinite(epoch_ms):
        return ""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000.0, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def spans(text: str, entities: Any) -> list[dict[str, Any]]:
    """The entities whose character spans lie inside `text`, in order, overlapping ones dropped
    (an NLU result is data from another service: a page must not break on a bad span)."""
    good, end = [], 0
    candidates = [e for e in (entities or []) if isinstance(e, dict)
                  and isinstance(e.get("start"), int) and isinstance(e.get("end"), int)]
    for e in sorted(candidates, key=lambda e: (e["start"], e["end"])):
        if end <= e["start"] < e["end"] <= len(text) and isinstance(e.get("entity"), str):
            good.append(e)
            end = e["end"]
    return good


def split_at_entities(text: str, entities: Any) -> list[tuple[str, str | None]]:
    """A turn's `text` cut at the NLU's entity spans into (piece, entity name or None), for
    highlighting each entity where it was said.
    The template escapes every piece."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for e in spans(text, entities):
        if e["start"] > pos:
            out.append((text[pos:e["start"]], None))
        out.append((text[e["start"]:e["end"]], e["entity"]))
        pos = e["end"]
    if pos < len(text) or not out:
        out.append((text[pos:], None))
    return out


_ANNOTATABLE = re.compile(r"^[^\[\]()]+$")  # what nlu.dataset.parse_annotated reads inside [...]
_ENTITY_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


def annotate(text: str, entities: Any) -> str:
    """The customer's text in the training format, each entity the model found as `[value](entity)`
    (nlu.dataset.parse_annotated reads it back to the same spans). A span the format cannot carry
    (brackets inside it) stays plain text for the editor to annotate."""
    out, pos = [], 0
    for e in spans(text, entities):
        value = text[e["start"]:e["end"]]
        if not _ANNOTATABLE.match(value) or not _ENTITY_NAME.match(e["entity"]):
            continue
        out.append(text[pos:e["start"]])
        out.append(f"[{value}]({e['entity']})")
        pos = e["end"]
    out.append(text[pos:])
    return "".join(out)


def shape(turn: TurnRecord, min_confidence: float | None = None) -> dict[str, Any]:
    """What the pages show of one turn, with safe defaults for whatever is missing."""
    nlu, intent, text = turn.nlu, turn.intent, turn.text
    steps = [(k, v) for k, v in turn.timings.items() if k != "end_to_end"]
    if "end_to_end" in turn.timings:
        steps.append(("end_to_end", turn.timings["end_to_end"]))
    ranking = nlu.get("intent_ranking")
    ranking = ranking if isinstance(ranking, list) else []
    return {
        "id": turn.id, "conversation_id": turn.conversation_id,
        "when": when(turn.received_at), "received_at": turn.received_at,
        "channel": turn.channel, "user_id": turn.user_id, "text": text,
        "segments": split_at_entities(text, nlu.get("entities")), "entities": spans(text, nlu.get("entities")),
        "has_nlu": bool(nlu), "intent": intent.get("name"), "confidence": intent.get("confidence"),
        "ranking": [(r.get("name"), r.get("confidence")) for r in ranking if isinstance(r, dict)],
        "out_of_scope": bool(nlu.get("out_of_scope")), "branch": turn.branch,
        "tier": nlu.get("tier") if nlu.get("tier") in (FAST, TRANSFORMER) else None,
        "reply": turn.reply, "status": turn.status, "error": turn.error,
        "timings": steps, "end_to_end": turn.timings.get("end_to_end"), "is_agent": turn.by_agent,
        "review": turn.review,
        "reasons": review_reasons(turn, min_confidence) if min_confidence is not None else [],
        "annotated": annotate(text, nlu.get("entities")),
    }
