"""The conversation document: what a branch's outcome keeps of itself, and that it reads back the same."""
from __future__ import annotations

import json

import pytest

from core.conversation import Conversation, Outcome, Pending

OUTCOMES = [
    Outcome(reply="Your order A-1234 has shipped."),
    Outcome(reply="Which order?", ask=Pending("order_status", "order_id", attempts=2), slots={"topic": "orders"}),
    Outcome(forward="human_handoff"),
    Outcome(reply="A person will answer you here.", handoff=True),
    Outcome(reply="Back to the bot.", handoff=False),
    Outcome(reply="Sorry?", fallback=True),
    Outcome(reply="Sorry, something went wrong on our side.", error="shop answered 400"),
    Outcome(),
]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_outcome_reads_back_as_it_was_decided(outcome):
    assert Outcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_an_outcome_keeps_only_what_differs_from_the_defaults():
    assert Outcome(reply="hi").to_dict() == {"reply": "hi"}
    assert Outcome(reply="A person will answer.", handoff=False).to_dict() == {"reply": "A person will answer.",
                                                                               "handoff": False}
    assert Outcome().to_dict() == {}


def test_an_outcome_stored_with_every_field_reads_the_same():
    """Documents written before outcomes were kept compact carry every field."""
    stored = {"reply": "Which order?", "ask": {"branch": "order_status", "slot": "order_id", "attempts": 1},
              "slots": {}, "handoff": None, "forward": None, "fallback": False, "error": None}
    assert Outcome.from_dict(stored) == Outcome(reply="Which order?", ask=Pending("order_status", "order_id"))


def test_a_redelivered_turn_finds_its_outcome_in_the_stored_document():
    conversation = Conversation("c1", "sendbird", "u1")
    for n, outcome in enumerate(OUTCOMES):
        conversation.record_turn(f"t{n}", "faq")
        conversation.apply(f"t{n}", "faq", outcome)
    stored = Conversation.from_doc(json.loads(json.dumps(conversation.to_doc())))
    assert [stored.outcome_of(f"t{n}", "faq") for n in range(len(OUTCOMES))] == OUTCOMES
    assert stored.outcome_of("t0", "order_status") is None
    assert stored.pending == conversation.pending and stored.handoff == conversation.handoff


def test_a_remembered_turn_costs_the_document_no_default_field():
    conversation = Conversation("c1", "sendbird", "u1")
    conversation.record_turn("t1", "greeting")
    conversation.apply("t1", "greeting", Outcome(reply="Hello!"))
    remembered = {"branch": "greeting", "outcomes": {"greeting": {"reply": "Hello!"}}}
    assert conversation.to_doc()["turns"] == {"t1": remembered}
