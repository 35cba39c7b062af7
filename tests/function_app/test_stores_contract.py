"""One test body per storage port, run over the in-memory twin and the Cosmos DB adapter against the
real stand-in: what the unit tests assume of memory is what production gets from Cosmos DB."""
from __future__ import annotations

import socket
import threading
import uuid
from types import SimpleNamespace

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos import exceptions

from core.conversation import Conversation, Outcome, Pending
from core.cosmos import CosmosStores, translated
from core.memory import MemoryConversationStore, MemoryOutbox, MemoryTurnLog
from core.stores import Unchanged, update_conversation
from devstack.stack import COSMOS_KEY
from switchboard.envelope import Envelope
from switchboard.errors import ConflictError, PermanentError, TransientError


@pytest.fixture(params=["memory", "cosmos"])
def stores(request):
    if request.param == "memory":
        return SimpleNamespace(conversations=MemoryConversationStore(), turns=MemoryTurnLog(),
                               outbox=MemoryOutbox())
    return CosmosStores(request.getfixturevalue("cosmos"), COSMOS_KEY, f"contract-{uuid.uuid4().hex[:8]}")


def envelope(turn_id="webchat:c1:m1", conversation="c1", received_at=1000.0, **fields) -> Envelope:
    return Envelope(turn_id=turn_id, channel="webchat", conversation_id=conversation, user_id="u1",
                    text="hi", received_at=received_at, **fields)


# ---- conversations ---------------------------------------------------------------------------------
def test_a_conversation_round_trips_with_a_new_etag_on_every_save(stores):
    store = stores.conversations
    assert store.load("c1") is None
    conversation = Conversation("c1", "webchat", "u1", pending=Pending("order_status", "order_id", 2),
                                slots={"order_id": "A-1"})
    conversation.record_turn("t1", "order_status")
    conversation.apply("t1", "order_status", Outcome(reply="Which order?", ask=Pending("order_status", "order_id")))
    first = store.save(conversation)
    assert first.etag
    loaded = store.load("c1")
    assert loaded == first
    assert loaded.outcome_of("t1", "order_status").reply == "Which order?"
    loaded.slots["colour"] = "blue"
    second = store.save(loaded)
    assert second.etag != first.etag and store.load("c1").slots == {"order_id": "A-1", "colour": "blue"}


def test_a_save_from_a_stale_read_is_a_conflict_and_changes_nothing(stores):
    store = stores.conversations
    store.save(Conversation("c1", "webchat", "u1"))
    a, b = store.load("c1"), store.load("c1")
    a.fallback_count = 1
    store.save(a)
    b.fallback_count = 7
    with pytest.raises(ConflictError):
        store.save(b)
    assert store.load("c1").fallback_count == 1


def test_creating_a_conversation_that_exists_is_a_conflict(stores):
    stores.conversations.save(Conversation("c1", "webchat", "u1", fallback_count=1))
    with pytest.raises(ConflictError):
        stores.conversations.save(Conversation("c1", "webchat", "u1", fallback_count=2))
    assert stores.conversations.load("c1").fallback_count == 1


def test_concurrent_read_modify_writes_of_one_conversation_lose_no_update(stores):
    threads, turns_each = 6, 4
    barrier = threading.Barrier(threads)
    errors = []

    def customer(i):
        barrier.wait()
        try:
            for j in range(turns_each):
                update_conversation(stores.conversations, lambda: Conversation("c1", "webchat", "u1"),
                                    lambda c, t=f"t{i}-{j}": c.record_turn(t, "greeting"))
        except Exception as e:  # reported below: a thread's exception would otherwise vanish
            errors.append(e)

    workers = [threading.Thread(target=customer, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    conversation = stores.conversations.load("c1")
    assert conversation.message_count == threads * turns_each and len(conversation.turns) == threads * turns_each


def test_an_unchanged_mutation_writes_nothing(stores):
    saved = stores.conversations.save(Conversation("c1", "webchat", "u1"))
    _, value = update_conversation(stores.conversations, lambda: Conversation("c1", "webchat", "u1"),
                                   lambda c: Unchanged("nothing to do"))
    assert value == "nothing to do" and stores.conversations.load("c1").etag == saved.etag


# ---- the outbox ------------------------------------------------------------------------------------
def test_the_outbox_keeps_one_reply_per_turn_of_each_conversation(stores):
    outbox = stores.outbox
    assert outbox.get("c1", "t1") is None
    outbox.put({"id": "t1", "conversation_id": "c1", "channel": "webchat", "text": "hello", "created": 10.0})
    outbox.put({"id": "t1", "conversation_id": "c1", "channel": "webchat", "text": "hello", "created": 10.0})
    assert outbox.get("c1", "t1")["text"] == "hello"
    assert outbox.get("c2", "t1") is None  # read by partition: another conversation's turn is not this one
    assert [m["id"] for m in outbox.after("c1", 0)] == ["t1"]


def test_the_outbox_lists_a_conversations_replies_after_a_cursor_oldest_first(stores):
    for turn, conversation, created in (("t3", "c1", 30.0), ("t1", "c1", 10.0), ("t2", "c1", 20.0),
                                        ("x1", "c2", 25.0)):
        stores.outbox.put({"id": turn, "conversation_id": conversation, "channel": "webchat",
                           "text": turn, "created": created})
    assert [m["text"] for m in stores.outbox.after("c1", 10.0)] == ["t2", "t3"]
    assert [m["text"] for m in stores.outbox.after("c2", 0)] == ["x1"]
    assert stores.outbox.after("c3", 0) == []


# ---- the turn log ----------------------------------------------------------------------------------
def test_the_turn_log_keeps_one_document_per_turn_updated_by_each_record(stores):
    log = stores.turns
    log.record(envelope(branch="greeting", timings={"understand": 1.5}), "no reply")
    log.record(envelope(branch="greeting", reply="Hi!", timings={"understand": 1.5, "deliver": 2.0}), "delivered")
    doc = log.get("c1", "webchat:c1:m1")
    assert (doc["status"], doc["reply"], doc["branch"], doc["error"]) == ("delivered", "Hi!", "greeting", None)
    assert doc["timings"] == {"understand": 1.5, "deliver": 2.0}
    assert [t["id"] for t in log.recent(10)] == ["webchat:c1:m1"]
    assert log.get("c2", "webchat:c1:m1") is None


def test_the_turn_log_lists_the_newest_turns_first_across_conversations(stores):
    for i, conversation in enumerate(("c1", "c2", "c1", "c3")):
        stores.turns.record(envelope(f"t{i}", conversation, received_at=1000.0 + i), "delivered")
    assert [t["id"] for t in stores.turns.recent(3)] == ["t3", "t2", "t1"]


# ---- Cosmos DB's errors as the pipeline's -----------------------------------------------------------
@pytest.mark.parametrize("status,error", [(429, TransientError), (408, TransientError), (449, TransientError),
                                          (503, TransientError), (400, PermanentError), (403, PermanentError),
                                          (413, PermanentError)])
def test_cosmos_answers_are_transient_or_permanent_by_status(status, error):
    with pytest.raises(error, match=f"Cosmos DB answered {status} to saving"):
        with translated("saving conversation c1"):
            raise exceptions.CosmosHttpResponseError(status_code=status, message="refused")


def test_no_answer_from_cosmos_is_transient():
    with pytest.raises(TransientError, match="did not answer"):
        with translated("reading conversation c1"):
            raise ServiceRequestError("connection refused")


def test_an_unreachable_cosmos_db_is_a_transient_error_at_start_up():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError, match="did not answer to opening database"):
        CosmosStores(f"http://127.0.0.1:{port}", COSMOS_KEY, "switchboard")


# ---- the catalogue's routes and replies, as the admin site stores them ------------------------------
def test_the_pipeline_reads_each_intents_route_and_each_branchs_replies(cosmos):
    from core.cosmos import CATALOGUE

    stores = CosmosStores(cosmos, COSMOS_KEY, f"contract-{uuid.uuid4().hex[:8]}")
    assert stores.catalogue.load().routes == {}  # an empty catalogue: the code's defaults apply
    container = stores.catalogue._c
    container.upsert_item({"id": "store_hours", "kind": "intent", "name": "store_hours", "route": "greeting",
                           "examples": ["when do you open"]})
    container.upsert_item({"id": "new_thing", "kind": "intent", "name": "new_thing", "route": None, "examples": []})
    container.upsert_item({"id": "greeting", "kind": "replies", "branch": "greeting",
                           "templates": {"hello": "Welcome!"}})
    container.upsert_item({"id": "q1", "kind": "qna", "answer": "9 to 5", "questions": ["hours?"]})
    catalogue = stores.catalogue.load()
    assert catalogue.routes == {"store_hours": "greeting", "new_thing": None}
    assert catalogue.replies == {"greeting": {"hello": "Welcome!"}}
    assert CATALOGUE == container.id
