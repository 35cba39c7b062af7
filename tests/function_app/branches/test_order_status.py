"""order_status: the order id from the message or asked for, then the shop's order lookup.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from branches import order_status
from pipeline import nlu_result


def test_order_status_with_the_id_in_the_message(pipeline, deps):
    deps.nlu.table["where is order A-1234"] = nlu_result("order_status", entities=[("order_id", "A-1234")])
    pipeline.say("where is order A-1234")
    assert pipeline.replies() == ["Order A-1234 is out for delivery, expected today by 6 pm."]


def test_order_status_asks_for_the_id_and_fills_it_from_the_next_message(pipeline, deps):
    deps.nlu.table["where is my order?"] = nlu_result("order_status")
    deps.nlu.table["c9001"] = nlu_result("greeting", 0.4)  # whatever the model thinks, the slot wins
    pipeline.say("where is my order?")
    assert deps.conversations.load("c1").pending.slot == "order_id"
    pipeline.say("c9001")
    assert pipeline.replies() == [order_status.REPLIES["ask"].text, "Order C-9001 is delivered."]
    conversation = deps.conversations.load("c1")
    assert conversation.pending is None and conversation.slots == {"order_id": "C-9001"}


def test_order_status_gives_up_after_two_asks(pipeline, deps):
    deps.nlu.table["where is my order?"] = nlu_result("order_status")
    for text in ("where is my order?", "no idea", "still no idea"):
        pipeline.say(text)
    assert pipeline.replies() == [order_status.REPLIES[key].text for key in ("ask", "ask_again", "give_up")]
    assert deps.conversations.load("c1").pending is None


def test_order_status_unknown_order(pipeline, deps):
    deps.nlu.table["status of Z-9999"] = nlu_result("order_status", entities=[("order_id", "Z-9999")])
    pipeline.say("status of Z-9999")
    assert pipeline.replies() == ["I couldn't find order Z-9999. Could you check the number?"]
