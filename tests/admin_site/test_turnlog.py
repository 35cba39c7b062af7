"""The turn log's reader, `TurnLog` (one contract test body over the in-memory twin AND the Cosmos DB
stand-in, whose SQL differs), and its pure filtering and shaping."""
from __future__ import annotations

import uuid

import pytest
from azure.cosmos import CosmosClient

from admin_site import turnlog
from admin_site.documents import CosmosDocuments, MemoryDocuments
from devstack.stack import COSMOS_KEY
from nlu import dataset
from switchboard.envelope import Envelope
from switchboard.turns import TurnRecord

T0 = 1_767_225_600_000.0  # 2026-01-01 00:00:00 UTC, epoch ms


def nlu(intent: str | None, confidence: float = 0.9, out_of_scope: bool = False, entities=()) -> dict:
    return {"intent": {"name": intent, "confidence": confidence} if intent else None,
            "intent_ranking": [{"name": intent, "confidence": confidence}] if intent else [],
            "out_of_scope": out_of_scope, "entities": list(entities)}


def log(docs, turn_id: str, at: float, conversation: str = "c1", channel: str = "webchat",
        status: str = "delivered", branch: str | None = "greeting", result: dict | None = None,
        text: str = "hello") -> dict:
    """A turn logged as the function app logs it (switchboard.turns.TurnRecord)."""
    envelope = Envelope(turn_id, channel, conversation, "u1", text, received_at=at, branch=branch, reply="hi",
                        nlu=result if result is not None else nlu("greeting"),
                        timings={"understand": 3.0, "end_to_end": 30.0})
    return docs.upsert(TurnRecord.from_envelope(envelope, status).to_doc())


@pytest.fixture(params=["memory", "cosmos"])
def docs(request):
    if request.param == "memory":
        return MemoryDocuments("turns", "/conversation_id")
    client = CosmosClient(request.getfixturevalue("cosmos"), COSMOS_KEY, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"turns-{uuid.uuid4().hex[:8]}")
    return CosmosDocuments(database, "turns", "/conversation_id")


@pytest.fixture
def turns(docs) -> turnlog.TurnLog:
    return turnlog.TurnLog(docs)


def ids(page: turnlog.Page) -> list[str]:
    return [t.id for t in page.turns]


def test_the_log_is_newest_first_and_each_filter_narrows_it(docs, turns):
    log(docs, "t1", T0, channel="webchat", branch="greeting", result=nlu("greeting"))
    log(docs, "t2", T0 + 60_000, "c2", channel="sendbird", branch="order_status", result=nlu("order_status"))
    log(docs, "t3", T0 + 86_400_000, channel="webchat", branch="fallback", status="failed",
        result=nlu("deny", 0.2))
    log(docs, "t4", T0 + 2 * 86_400_000, "c3", channel="sendbird", branch="faq", status="no reply",
        result=nlu("store_hours"))

    def find(**query) -> list[str]:
        filters, problems = turnlog.parse_filters(query)
        assert problems == []
        return ids(turns.page(filters, None, 10))

    assert find() == ["t4", "t3", "t2", "t1"]
    assert find(channel="sendbird") == ["t4", "t2"]
    assert find(intent="order_status") == ["t2"]
    assert find(branch="fallback") == ["t3"]
    assert find(status="no reply") == ["t4"]
    assert find(**{"from": "2026-01-02"}) == ["t4", "t3"]
    assert find(to="2026-01-01") == ["t2", "t1"]  # a date as `to`: that whole day
    assert find(**{"from": "2026-01-01T00:01", "to": "2026-01-02T00:00"}) == ["t2"]
    assert find(channel="webchat", status="failed") == ["t3"]
    assert find(channel="nowhere") == []


def test_paging_walks_the_whole_log_once_even_when_turns_share_a_millisecond(docs, turns):
    times = [T0, T0 + 1, T0 + 1, T0 + 1, T0 + 1, T0 + 2, T0 + 3, T0 + 3, T0 + 4]
    for i, at in enumerate(times):
        log(docs, f"t{i}", at, conversation=f"c{i % 3}")
    seen, cursor, pages = [], None, 0
    while True:
        page = turns.page(turnlog.Filters(), cursor, 2)
        seen += ids(page)
        pages += 1
        if page.next is None:
            break
        cursor = turnlog.Cursor.decode(page.next.encode())  # through the link, as the page does
    assert sorted(seen) == sorted(f"t{i}" for i in range(len(times))) and len(seen) == len(times)
    assert [times[int(i[1:])] for i in seen] == sorted(times, reverse=True)
    assert pages == 5


def test_a_transcript_is_one_conversation_in_order_and_pages_forward(docs, turns):
    for i, at in enumerate([T0 + 5, T0 + 1, T0 + 3, T0 + 4]):
        log(docs, f"a{i}", at, conversation="mine")
    log(docs, "other", T0 + 2, conversation="theirs")
    first = turns.transcript("mine", size=3)
    assert ids(first) == ["a1", "a2", "a3"] and first.turns[0] == TurnRecord.from_doc(docs.get("mine", "a1"))
    assert ids(turns.transcript("mine", first.next, size=3)) == ["a0"]
    assert turns.transcript("nobody").turns == []


def test_the_inbox_reads_the_latest_turns_and_those_logged_since_it_last_asked(docs, turns):
    def logged(turn_id: str, at: float, ended: float, conversation: str = "mine") -> None:
        record = TurnRecord.from_doc(log(docs, turn_id, at, conversation))
        record.updated_at = ended
        docs.upsert(record.to_doc())

    logged("a0", T0 + 1, T0 + 900)  # a slow turn: it ended after the two later ones
    logged("a1", T0 + 2, T0 + 52)
    logged("a2", T0 + 3, T0 + 53)
    logged("other", T0 + 4, T0 + 54, conversation="theirs")
    assert [t.id for t in turns.latest("mine", 2)] == ["a1", "a2"]  # the latest two received, oldest first
    assert [t.id for t in turns.logged_after("mine", T0 + 53, 10)] == ["a0"]
    assert [t.id for t in turns.logged_after("mine", 0, 10)] == ["a1", "a2", "a0"]  # in the order they ended
    assert turns.get("mine", "a0").updated_at == T0 + 900 and turns.get("mine", "nothing") is None


def test_the_review_queue_holds_exactly_the_unreviewed_unsure_turns(docs, turns):
    log(docs, "sure", T0, result=nlu("greeting", 0.95))
    log(docs, "oos", T0 + 1, result=nlu("greeting", 0.9, out_of_scope=True), branch="faq")
    log(docs, "unsure", T0 + 2, result=nlu("order_status", 0.3), branch="faq")
    log(docs, "no-intent", T0 + 3, result=nlu(None), branch="faq")
    log(docs, "fallback", T0 + 4, result=nlu("affirm", 0.8), branch="fallback")
    log(docs, "at-threshold", T0 + 5, result=nlu("greeting", 0.5))
    agent = Envelope("agent-1", "webchat", "c1", "ann", "", received_at=T0 + 6, branch="agent",
                     reply="Hello!")
    docs.upsert(TurnRecord.from_envelope(agent, "delivered").to_doc())
    reviewed = log(docs, "reviewed", T0 + 7, result=nlu("greeting", 0.1))
    turns.mark_reviewed(TurnRecord.from_doc(reviewed), turnlog.review_mark("dismiss", "ann"))

    queue = turns.review_queue(0.5, None, 10)
    assert ids(queue) == ["fallback", "no-intent", "unsure", "oos"]
    assert [turnlog.review_reasons(t, 0.5) for t in queue.turns] == [
        ["answered by fallback"], ["no intent"], ["low confidence (0.30 < 0.50)"], ["out of scope"]]


def test_the_review_mark_goes_on_the_newest_version_and_only_once(docs, turns):
    read = turns.get("c1", log(docs, "t1", T0, result=nlu("greeting", 0.2))["id"])
    log(docs, "t1", T0, result=nlu("greeting", 0.2), status="failed")  # the function app logs it again
    mark = turnlog.review_mark("relabel", "ann", "greeting", "hello")
    marked = turns.mark_reviewed(read, mark)
    stored = docs.get("c1", "t1")
    assert stored["review"] == mark and stored["status"] == "failed" and marked == TurnRecord.from_doc(stored)
    with pytest.raises(turnlog.AlreadyReviewed) as second:
        turns.mark_reviewed(read, turnlog.review_mark("dismiss", "bob"))
    assert second.value.review["by"] == "ann"
    turns.unmark(read, turnlog.review_mark("dismiss", "bob"))  # not bob's mark: it stays
    assert docs.get("c1", "t1")["review"] == mark
    turns.unmark(read, mark)
    assert "review" not in docs.get("c1", "t1")
    docs.delete("c1", "t1")
    with pytest.raises(turnlog.TurnGone):
        turns.mark_reviewed(read, mark)


# ---- pure ---------------------------------------------------------------------------------------
def test_filters_name_each_problem():
    _, problems = turnlog.parse_filters({"from": "yesterday", "to": "2026-01-01"})
    assert problems == ["from: 'yesterday' is not a time: write 2026-05-01 or 2026-05-01T14:30 (UTC)"]
    _, problems = turnlog.parse_filters({"from": "2026-01-02", "to": "2026-01-01T12:00"})
    assert problems == ["from must be before to"]
    _, problems = turnlog.parse_filters({"intent": "x" * 201})
    assert problems == ["intent is longer than 200 characters"]
    filters, problems = turnlog.parse_filters({"channel": " webchat ", "status": "",
                                               "from": "2026-01-01T10:00"})
    assert problems == [] and filters.args() == {"channel": "webchat", "from": "2026-01-01T10:00"}
    assert filters.conditions() == [("channel", "=", "webchat"), ("received_at", ">=", T0 + 10 * 3_600_000)]


def test_a_damaged_paging_link_is_refused_and_a_good_one_round_trips():
    cursor = turnlog.Cursor(T0 + 0.123, ("webchat:1", "sendbird:a.b@c"))
    assert turnlog.Cursor.decode(cursor.encode()) == cursor
    for bad in ("nan~", "abc~t1", "1~t 1", "inf~", f"{T0}~<script>"):
        with pytest.raises(ValueError, match="paging link is damaged"):
            turnlog.Cursor.decode(bad)


def test_entities_are_cut_out_of_the_text_and_annotated_for_training():
    text = "where is A-1234 (red shoes)"
    entities = [{"entity": "order_id", "value": "A-1234", "start": 9, "end": 15, "confidence": 0.9},
                {"entity": "colour", "value": "red", "start": 17, "end": 20},
                {"entity": "bad", "value": "x", "start": 10, "end": 12},  # overlaps order_id
                {"entity": "beyond", "value": "x", "start": 20, "end": 99},
                {"entity": "odd", "start": "1", "end": 2}]
    assert turnlog.split_at_entities(text, entities) == [
        ("where is ", None), ("A-1234", "order_id"), (" (", None), ("red", "colour"), (" shoes)", None)]
    annotated = turnlog.annotate(text, entities)
    assert annotated == "where is [A-1234](order_id) ([red](colour) shoes)"
    assert dataset.parse_annotated(annotated) == (
        text, (dataset.Span(9, 15, "order_id"), dataset.Span(17, 20, "colour")))
    # a value with brackets cannot be annotated: it stays plain text
    assert turnlog.annotate("a (b) c", [{"entity": "x", "start": 2, "end": 5}]) == "a (b) c"
    assert turnlog.split_at_entities("", None) == [("", None)]


def test_a_turn_with_missing_or_odd_fields_still_has_a_shape():
    odd = {"id": "t", "conversation_id": "c", "nlu": None, "timings": None, "received_at": "x"}
    shaped = turnlog.shape(TurnRecord.from_doc(odd), 0.5)
    assert shaped["when"] == "" and shaped["timings"] == [] and shaped["intent"] is None
    assert shaped["reasons"] == []
    envelope = Envelope("t", "webchat", "c", "u", "hi", received_at=T0 + 1.5, nlu=nlu("greeting", 0.4),
                        timings={"end_to_end": 9.0, "understand": 2.0, "deliver": 1.0})
    shaped = turnlog.shape(TurnRecord.from_envelope(envelope, "delivered"), 0.5)
    assert shaped["when"] == "2026-01-01 00:00:00.001"
    assert shaped["timings"] == [("understand", 2.0), ("deliver", 1.0), ("end_to_end", 9.0)]
    assert shaped["reasons"] == ["low confidence (0.40 < 0.50)"] and shaped["ranking"] == [("greeting", 0.4)]
