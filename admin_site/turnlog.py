"""The turn log as the admin pages read it: filters, pages, one conversation's transcript, the review
queue, and the shape a turn document takes on a page.

The function app writes one document per turn (container `turns`, partition /conversation_id,
`core.stores.turn_document`). A busy log holds hundreds of thousands, so every read here is a
TOP-limited query over indexed fields: the list pages with a `received_at` cursor (the Cosmos DB
stand-in has no OFFSET/LIMIT, and OFFSET costs as much as reading what it skips anyway) and a
transcript reads one partition. The queries go through the `Documents` port, so the in-memory twin
and Cosmos DB answer the same conditions; everything else here is plain functions over plain data.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from admin_site.documents import Condition, Conflict, Doc, Documents
from nlu.artifact import FAST, TRANSFORMER

PAGE_SIZE = 50  # turns on one page of the log
QUEUE_SIZE = 25  # turns on one page of the review queue (each carries a form)
TRANSCRIPT_SIZE = 500  # turns of one conversation on one page
CHANNELS = ("webchat", "sendbird")
STATUSES = ("delivered", "failed", "parked", "no reply", "silent: handed off to an agent")
AGENT = "agent"  # the branch of a reply an agent wrote in the inbox
FALLBACK = "fallback"
MAX_FILTER_CHARS = 200
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")  # turn and conversation ids (core.envelope.check_id)
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def valid_id(value: str) -> bool:
    return bool(_ID.match(value or ""))


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
            moment = dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.timezone.utc)
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
    def decode(cls, raw: str) -> "Cursor":
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
    turns: list[Doc]
    next: Cursor | None  # the following page (older, or later in a transcript), if there is one


def page(docs: Documents, where: list[Condition], cursor: Cursor | None, size: int, descending: bool = True,
         partition: str | None = None) -> Page:
    """One page of turns ordered by `received_at`, after `cursor`: a single TOP query."""
    conditions = list(where)
    top = size + 1
    if cursor is not None:
        conditions.append(("received_at", "<=" if descending else ">=", cursor.at))
        top += len(cursor.seen)
    found = docs.find(conditions, partition=partition, order_by="received_at", descending=descending, top=top)
    if cursor is not None:
        found = [d for d in found if not (d.get("received_at") == cursor.at and d["id"] in cursor.seen)]
    shown = found[:size]
    return Page(shown, following(shown, cursor) if len(found) > size else None)


def following(shown: list[Doc], cursor: Cursor | None) -> Cursor:
    """The cursor after `shown` (a full page, the one `cursor` led to)."""
    at = shown[-1]["received_at"]
    seen = [d["id"] for d in shown if d.get("received_at") == at]
    if cursor is not None and cursor.at == at:
        seen = list(cursor.seen) + seen
    return Cursor(at, tuple(seen))


def transcript(docs: Documents, conversation_id: str, cursor: Cursor | None = None,
               size: int = TRANSCRIPT_SIZE) -> Page:
    """One conversation in the order it happened: a query within its partition only."""
    return page(docs, [], cursor, size, descending=False, partition=conversation_id)


# ---- the review queue ---------------------------------------------------------------------------
def review_conditions(min_confidence: float) -> list[Condition]:
    """Turns worth a person's look that nobody has reviewed yet: the model said out of scope, or was
    unsure (below the bot's own threshold, or no intent at all), or the fallback answered."""
    return [("review", "defined", False),
            ("or", [("nlu.out_of_scope", "=", True), ("nlu.intent.confidence", "<", min_confidence),
                    ("nlu.intent", "=", None), ("branch", "=", FALLBACK)])]


def review_reasons(doc: Doc, min_confidence: float) -> list[str]:
    """Why a turn is in the review queue, in words (the same tests as `review_conditions`)."""
    nlu = doc.get("nlu") or {}
    reasons = []
    if nlu.get("out_of_scope") is True:
        reasons.append("out of scope")
    intent = nlu.get("intent", {}) if nlu else {}
    confidence = intent.get("confidence") if isinstance(intent, dict) else None
    if nlu and intent is None:
        reasons.append("no intent")
    elif isinstance(confidence, (int, float)) and confidence < min_confidence:
        reasons.append(f"low confidence ({confidence:.2f} < {min_confidence:.2f})")
    if doc.get("branch") == FALLBACK:
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


def mark_reviewed(docs: Documents, doc: Doc, review: dict[str, Any], attempts: int = 10) -> Doc:
    """Put `review` on the turn with its ETag, so it leaves the queue. A conflict reads the turn again:
    if the function app rewrote it meanwhile the mark goes on the new version (never over it); if
    another editor marked it first, `AlreadyReviewed`, and the caller adds nothing."""
    current: Doc | None = doc
    for _ in range(attempts):
        if current is None:
            raise TurnGone(doc["id"])
        if current.get("review"):
            raise AlreadyReviewed(current["review"])
        try:
            return docs.save({**current, "review": review}, current["_etag"])
        except Conflict as e:
            current = e.current
    raise Conflict(current)


def unmark(docs: Documents, doc: Doc, review: dict[str, Any], attempts: int = 10) -> None:
    """Take back our own mark (the action it claimed failed); anyone else's mark stays."""
    current: Doc | None = docs.get(doc["conversation_id"], doc["id"])
    for _ in range(attempts):
        if current is None or current.get("review") != review:
            return
        try:
            docs.save({k: v for k, v in current.items() if k != "review"}, current["_etag"])
            return
        except Conflict as e:
            current = e.current


# ---- shaping a turn for a page ------------------------------------------------------------------
def when(epoch_ms: Any) -> str:
    """`2026-05-01 14:30:05.123` (UTC) from epoch milliseconds."""
    if not isinstance(epoch_ms, (int, float)) or not math.isfinite(epoch_ms):
        return ""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000.0, dt.timezone.utc)
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


def segments(text: str, entities: Any) -> list[tuple[str, str | None]]:
    """`text` cut into (piece, entity name or None), for highlighting each entity where it was said.
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


def shape(doc: Doc, min_confidence: float | None = None) -> dict[str, Any]:
    """What the pages show of one turn document, with safe defaults for whatever is missing."""
    nlu = doc.get("nlu") if isinstance(doc.get("nlu"), dict) else {}
    intent = nlu.get("intent") if isinstance(nlu.get("intent"), dict) else {}
    text = doc.get("text") if isinstance(doc.get("text"), str) else ""
    timings = doc.get("timings") if isinstance(doc.get("timings"), dict) else {}
    steps = [(k, v) for k, v in timings.items() if k != "end_to_end"]
    if "end_to_end" in timings:
        steps.append(("end_to_end", timings["end_to_end"]))
    ranking = [(r.get("name"), r.get("confidence")) for r in nlu.get("intent_ranking") or []
               if isinstance(r, dict)]
    return {
        "id": doc.get("id", ""), "conversation_id": doc.get("conversation_id", ""),
        "when": when(doc.get("received_at")), "received_at": doc.get("received_at"),
        "channel": doc.get("channel") or "", "user_id": doc.get("user_id") or "", "text": text,
        "segments": segments(text, nlu.get("entities")), "entities": spans(text, nlu.get("entities")),
        "has_nlu": bool(nlu), "intent": intent.get("name"), "confidence": intent.get("confidence"),
        "ranking": ranking, "out_of_scope": bool(nlu.get("out_of_scope")), "branch": doc.get("branch"),
        "tier": nlu.get("tier") if nlu.get("tier") in (FAST, TRANSFORMER) else None,
        "reply": doc.get("reply"), "status": doc.get("status") or "", "error": doc.get("error"),
        "timings": steps, "end_to_end": timings.get("end_to_end"), "is_agent": doc.get("branch") == AGENT,
        "review": doc.get("review"),
        "reasons": review_reasons(doc, min_confidence) if min_confidence is not None else [],
        "annotated": annotate(text, nlu.get("entities")),
    }
