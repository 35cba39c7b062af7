"""The review queue: which turns it holds, and relabel / out of scope / dismiss, by editors only."""
from __future__ import annotations

import re

import pytest

from nlu import dataset
from switchboard.envelope import Envelope
from switchboard.turns import TurnRecord

T0 = 1_767_225_600_000.0  # 2026-01-01 00:00:00 UTC, epoch ms
ORDER = {"entity": "order_id", "value": "A-1234", "start": 9, "end": 15, "confidence": 0.8}


def log(services, turn_id: str, at: float, text: str = "where is A-1234 now",
        intent: str | None = "order_status", confidence: float = 0.3, out_of_scope: bool = False,
        branch: str = "faq", entities=(ORDER,)) -> dict:
    result = {"intent": {"name": intent, "confidence": confidence} if intent else None,
              "intent_ranking": [{"name": intent, "confidence": confidence}] if intent else [],
              "out_of_scope": out_of_scope, "entities": list(entities)}
    envelope = Envelope(turn_id, "webchat", "c1", "u1", text, received_at=at, nlu=result, branch=branch,
                        reply="Sorry, I did not get that.", timings={"end_to_end": 50.0})
    return services.documents["turns"].upsert(TurnRecord.from_envelope(envelope, "delivered").to_doc())


@pytest.fixture
def catalogue(services):
    services.catalogue.save_entity("order_id", {}, [], None, "seed")
    services.catalogue.save_intent("order_status", ["where is my order [B-1](order_id)"], "order_status",
                                   None, "seed")
    services.catalogue.save_intent("greeting", ["hello"], "greeting", None, "seed")
    return services.catalogue


def queue(client) -> list[str]:
    return re.findall(r'<tr id="turn-([^"]+)">', client.get("/review/").get_data(as_text=True))


def examples(services, intent: str) -> list[str]:
    return (services.catalogue.get("intent", intent) or {}).get("examples", [])


def test_the_queue_holds_exactly_the_out_of_scope_unsure_and_fallback_turns(services, catalogue, client_as):
    log(services, "sure", T0, confidence=0.97, branch="order_status")
    log(services, "oos", T0 + 1, confidence=0.9, out_of_scope=True)
    log(services, "unsure", T0 + 2, confidence=0.49)
    log(services, "fallback", T0 + 3, intent="affirm", confidence=0.9, branch="fallback")
    log(services, "threshold", T0 + 4, confidence=0.5, branch="order_status")
    agent = Envelope("agent:1", "webchat", "c1", "ann", "", received_at=T0 + 5, branch="agent",
                     reply="Hi, Ann here")
    services.documents["turns"].upsert(TurnRecord.from_envelope(agent, "delivered").to_doc())
    viewer = client_as("viewer")
    assert queue(viewer) == ["fallback", "unsure", "oos"]
    page = viewer.get("/review/").get_data(as_text=True)
    assert "answered by fallback" in page and "out of scope" in page
    assert "low confidence (0.49 &lt; 0.50)" in page
    assert 'name="action"' not in page  # viewers look; editors act


def test_the_form_is_prefilled_with_the_models_guess_and_its_entity_spans(services, catalogue, client_as):
    log(services, "t1", T0)
    page = client_as("editor").get("/review/").get_data(as_text=True)
    assert '<option value="order_status" selected>order_status</option>' in page
    assert 'value="where is [A-1234](order_id) now"' in page


def test_relabel_adds_the_annotated_example_to_the_intent_and_the_turn_leaves_the_queue(services, catalogue,
                                                                                       client_as):
    log(services, "t1", T0)
    log(services, "t2", T0 + 1)
    editor = client_as("editor")
    form = {"action": "relabel", "intent": "order_status", "example": "where is [A-1234](order_id) now",
            "next": "/review/?x=1"}
    answer = editor.post("/review/c1/t1", form)
    assert answer.status_code == 302 and answer.headers["Location"] == "/review/?x=1"
    added = examples(services, "order_status")[-1]
    assert dataset.parse_annotated(added) == ("where is A-1234 now", (dataset.Span(9, 15, "order_id"),))
    assert "Turn relabelled: &#39;where is [A-1234](order_id) now&#39; added to order_status." in editor.get(
        "/review/").get_data(as_text=True)
    assert queue(editor) == ["t2"]
    review = services.documents["turns"].get("c1", "t1")["review"]
    assert review["action"] == "relabel" and review["intent"] == "order_status" and review["by"] == "editor"
    entry = services.audit.recent(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("editor", "review.relabel", "turn c1/t1")
    assert entry["detail"] == {"intent": "order_status", "example": added}


def test_an_edited_label_goes_to_the_intent_the_editor_chose(services, catalogue, client_as):
    log(services, "t1", T0, text="hi there", entities=())
    client_as("editor").post("/review/c1/t1",
                             {"action": "relabel", "intent": "greeting", "example": "hi there"})
    assert examples(services, "greeting") == ["hello", "hi there"]
    assert examples(services, "order_status") == ["where is my order [B-1](order_id)"]


def test_an_example_that_cannot_be_saved_comes_back_filled_with_the_problem(services, catalogue, client_as):
    log(services, "t1", T0)
    editor = client_as("editor")
    for form, problem in [({"intent": "order_status", "example": "where is [A-1234](colour) now"},
                           "unknown entity &#39;colour&#39;"),
                          ({"intent": "order_status", "example": "where is [A-1234 now"},
                           "unbalanced annotation bracket"),
                          ({"intent": "no_such_intent", "example": "where is A-1234 now"},
                           "pick one of the intents")]:
        answer = editor.post("/review/c1/t1", {"action": "relabel", **form})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400 and problem in page
        assert f">{form['example']}</textarea>" in page
    assert examples(services, "order_status") == ["where is my order [B-1](order_id)"]
    assert queue(editor) == ["t1"] and "review" not in services.documents["turns"].get("c1", "t1")
    assert services.audit.recent(5) == []


def test_a_refusal_by_the_catalogue_takes_the_claim_back(services, catalogue, client_as):
    from admin_site.catalogue import MAX_EXAMPLES
    etag = services.catalogue.get("intent", "greeting")["_etag"]
    services.catalogue.save_intent("greeting", [f"hello {i}" for i in range(MAX_EXAMPLES)], "greeting", etag,
                                   "seed")  # full: only the store knows, when it adds
    log(services, "t1", T0)
    answer = client_as("editor").post("/review/c1/t1", {"action": "relabel", "intent": "greeting",
                                                         "example": "where is A-1234 now"})
    assert answer.status_code == 400
    assert f"{MAX_EXAMPLES} examples" in answer.get_data(as_text=True)  # the catalogue's reason, shown
    assert "review" not in services.documents["turns"].get("c1", "t1") and services.audit.recent(5) == []


def test_out_of_scope_keeps_the_plain_text_as_an_oos_example(services, catalogue, client_as):
    log(services, "t1", T0, text="what is the meaning of life", entities=(), out_of_scope=True)
    editor = client_as("editor")
    editor.post("/review/c1/t1", {"action": "out_of_scope", "intent": "greeting",
                                  "example": "what is the [meaning](order_id) of life"})
    assert examples(services, "oos") == ["what is the meaning of life"]
    assert services.catalogue.get("intent", "oos")["route"] is None
    assert queue(editor) == [] and services.audit.recent(1)[0]["action"] == "review.out_of_scope"


def test_dismiss_adds_no_training_data(services, catalogue, client_as):
    log(services, "t1", T0)
    editor = client_as("editor")
    editor.post("/review/c1/t1", {"action": "dismiss", "intent": "order_status", "example": "x"})
    assert examples(services, "order_status") == ["where is my order [B-1](order_id)"]
    assert services.catalogue.get("intent", "oos") is None
    assert queue(editor) == []
    entry = services.audit.recent(1)[0]
    assert entry["action"] == "review.dismiss" and entry["target"] == "turn c1/t1"
    assert services.documents["turns"].get("c1", "t1")["review"]["action"] == "dismiss"


def test_a_turn_reviewed_by_someone_else_first_gets_nothing_added_twice(services, catalogue, client_as):
    log(services, "t1", T0)
    client_as("editor").post("/review/c1/t1", {"action": "dismiss"})
    admin = client_as("admin")
    answer = admin.post("/review/c1/t1", {"action": "relabel", "intent": "greeting", "example": "x y"})
    assert answer.status_code == 302
    assert examples(services, "greeting") == ["hello"]
    assert services.documents["turns"].get("c1", "t1")["review"]["by"] == "editor"
    flashed = admin.get("/review/").get_data(as_text=True)
    assert "editor reviewed this turn first (dismiss); nothing was added." in flashed


def test_only_editors_may_act_even_with_a_hand_made_request(services, catalogue, client_as):
    log(services, "t1", T0)
    for role in ("viewer", "agent"):
        client = client_as(role)
        for action in ("relabel", "out_of_scope", "dismiss"):
            answer = client.post("/review/c1/t1",
                                 {"action": action, "intent": "order_status", "example": "hi"})
            assert answer.status_code == 403, (role, action)
        assert queue(client) == ["t1"]
        assert client.get("/review/c1/t1").status_code == 200  # but may look
    assert examples(services, "order_status") == ["where is my order [B-1](order_id)"]
    assert services.catalogue.get("intent", "oos") is None and services.audit.recent(5) == []


def test_unknown_turns_and_actions_are_refused(services, catalogue, client_as):
    log(services, "t1", T0)
    editor = client_as("editor")
    assert editor.post("/review/c1/nothing", {"action": "dismiss"}).status_code == 404
    assert editor.post("/review/c1/t1", {"action": "delete"}).status_code == 400
    assert editor.post("/review/c1/t1", {"action": "dismiss", "next": "https://evil.example/"}).headers[
        "Location"] == "/review/"


def test_what_customers_typed_renders_as_text(services, catalogue, client_as):
    script = "<script>alert(1)</script>"
    log(services, "t1", T0, text=f"where is {script}", entities=())
    editor = client_as("editor")
    for url in ("/review/", "/review/c1/t1"):
        page = editor.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
