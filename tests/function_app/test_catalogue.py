"""The catalogue: reply templates and routes as data, validated, cached, and live in the next turn."""
import pytest

import branches
from branches import greeting, order_status
from core.catalogue import CachedCatalogue, Catalogue, Replies, usable
from pipeline import nlu_result
from switchboard.errors import TransientError
from switchboard.templates import Template, template_problems


@pytest.mark.parametrize("text,problem", [
    ("", "the reply is empty"),
    ("   ", "the reply is empty"),
    ("Order {order} is late", "unknown slot {order} (this reply knows {order_id}, {status})"),
    ("Order {order_id.__class__}", "{order_id.__class__} is not a slot name"),
    ("Order {0}", "{0} is not a slot name"),
    ("Order {}", "{} names no slot"),
    ("Order {order_id:>10}", "{order_id} takes no format or conversion"),
    ("Order {order_id!r}", "{order_id} takes no format or conversion"),
    ("Order {order_id", "braces do not pair up"),
    ("x" * 2001, "the limit is 2000"),
])
def test_a_template_that_cannot_be_used_says_why(text, problem):
    problems = template_problems(text, ("order_id", "status"))
    assert problems and problem in problems[0]


@pytest.mark.parametrize("text", ["Order {order_id} is {status}.", "No slots at all", "Braces {{like this}}"])
def test_good_templates_pass(text):
    assert template_problems(text, ("order_id", "status")) == []


def test_replies_prefer_the_catalogue_and_fill_in_slots():
    defaults = {"found": Template("Order {order_id} is {status}.", ("order_id", "status")), "ask": Template("Which?")}
    replies = Replies(defaults, {"found": "{status}: order {order_id}"})
    assert replies.text("found", order_id="A-1", status="shipped") == "shipped: order A-1"
    assert replies.text("ask") == "Which?"


def test_what_the_code_cannot_use_is_dropped():
    known = {"greeting": {"hello": Template("Hi")}, "faq": {}}
    got = usable(Catalogue(routes={"a": "greeting", "b": "no_such_branch", "c": None},
                           replies={"greeting": {"hello": "Hello {name}", "nope": "x"}, "gone": {"k": "v"}}), known)
    assert got.routes == {"a": "greeting", "c": None}
    assert got.replies == {}
    replies = {"greeting": {"hello": "Hello!"}}
    assert usable(Catalogue(replies=replies), known).replies == replies


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_cached_catalogue_refreshes_after_its_interval_and_keeps_its_copy_when_the_read_fails():
    clock, reads = Clock(), []
    source = {"routes": {"x": "greeting"}}

    def load():
        reads.append(clock.now)
        if isinstance(source.get("fail"), Exception):
            raise source["fail"]
        return Catalogue(routes=dict(source["routes"]))

    cached = CachedCatalogue(load, branches.all_templates(), refresh_seconds=5, clock=clock)
    assert cached.current().routes == {"x": "greeting"}
    source["routes"] = {"x": "goodbye"}
    clock.now += 4.9
    assert cached.current().routes == {"x": "greeting"} and len(reads) == 1  # not yet
    clock.now += 0.2
    assert cached.current().routes == {"x": "goodbye"}  # within the interval of the edit
    source["fail"] = TransientError("Cosmos DB did not answer")
    clock.now += 5.1
    assert cached.current().routes == {"x": "goodbye"}  # the copy in hand
    assert len(reads) == 3 and cached.current() and len(reads) == 3  # no retry until the interval passed


def test_at_first_start_with_the_catalogue_unreadable_the_codes_defaults_answer(pipeline, deps, catalogue):
    catalogue.failures.append(TransientError("Cosmos DB did not answer"))
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("hi")
    assert pipeline.replies() == [greeting.REPLIES["hello"].text]


def test_an_admins_reply_and_route_are_used_in_the_next_turn(pipeline, deps, catalogue):
    deps.nlu.table["hi"] = nlu_result("greeting")
    deps.nlu.table["when do you open?"] = nlu_result("store_hours")
    catalogue.replies["greeting"] = {"hello": "Welcome to the shop!"}
    catalogue.routes["store_hours"] = "greeting"
    pipeline.say("hi")
    pipeline.say("when do you open?")
    assert pipeline.replies() == ["Welcome to the shop!", "Welcome to the shop!"]


def test_a_template_with_slots_is_filled_by_its_branch(pipeline, deps, catalogue):
    deps.nlu.table["where is A-1234"] = nlu_result("order_status", entities=[("order_id", "A-1234")])
    catalogue.replies["order_status"] = {"found_with_eta": "{order_id}: {status} (ETA {eta})"}
    pipeline.say("where is A-1234")
    assert pipeline.replies() == ["A-1234: out for delivery (ETA today by 6 pm)"]
    assert order_status.REPLIES["found_with_eta"].slots == ("order_id", "status", "eta")
