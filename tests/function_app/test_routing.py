import re

import pytest

from branches import all_branches
from core.conversation import Conversation, Pending
from core.ports import Turn
from core.queues import queue_for
from core.routing import FALLBACK, FAQ, ROUTES, route


def turn(intent, confidence=0.9, oos=False):
    return Turn("t1", "text", intent, confidence, oos)


@pytest.mark.parametrize("intent,branch", [("greeting", "greeting"), ("thanks", "goodbye"),
                                           ("order_status", "order_status"), ("store_hours", FAQ),
                                           ("product_search", "product_search")])
def test_an_intent_goes_to_its_branch(intent, branch):
    assert route(turn(intent), Conversation("c", "webchat", "u"), 0.5) == branch


def test_a_pending_slot_wins_over_the_intent():
    conversation = Conversation("c", "webchat", "u", pending=Pending("order_status", "order_id"))
    assert route(turn("greeting"), conversation, 0.5) == "order_status"


@pytest.mark.parametrize("t", [turn("greeting", 0.3), turn("greeting", oos=True), turn(None, 0.0),
                               turn("an_intent_nobody_routes")])
def test_out_of_scope_low_confidence_or_unrouted_goes_to_faq(t):
    assert route(t, Conversation("c", "webchat", "u"), 0.5) == FAQ


def test_a_conversation_handed_to_an_agent_gets_no_branch():
    conversation = Conversation("c", "webchat", "u", handoff=True, pending=Pending("order_status", "order_id"))
    assert route(turn("greeting"), conversation, 0.5) is None


def test_every_routed_branch_exists_with_a_valid_queue_name():
    branches = all_branches()
    assert {FAQ, FALLBACK} <= set(branches) and set(ROUTES.values()) <= set(branches)
    for branch, logic in branches.items():
        assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-)){2,62}", queue_for(branch))
        assert logic.BRANCH == branch and callable(logic.handle) and isinstance(logic.REPLIES, dict)


def test_the_catalogues_routes_add_to_and_override_the_codes():
    conversation = Conversation("c", "webchat", "u")
    routes = {"store_hours": "greeting", "greeting": None, "new_intent": "goodbye"}
    assert route(turn("store_hours"), conversation, 0.5, routes) == "greeting"
    assert route(turn("greeting"), conversation, 0.5, routes) == FAQ  # unrouted by an admin
    assert route(turn("new_intent"), conversation, 0.5, routes) == "goodbye"
    assert route(turn("order_status"), conversation, 0.5, routes) == "order_status"  # the code's default
