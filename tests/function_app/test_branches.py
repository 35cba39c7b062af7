"""Each branch's pure logic, through the in-memory pipeline (understand -> branch -> deliver)."""
from branches import fallback, greeting, human_handoff, order_status
from pipeline import nlu_result


def test_greeting(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("hi")
    assert pipeline.replies() == [greeting.HELLO]


def test_thanks_and_goodbye_share_a_branch(pipeline, deps):
    deps.nlu.table["thanks!"] = nlu_result("thanks")
    deps.nlu.table["bye"] = nlu_result("goodbye")
    pipeline.say("thanks!")
    pipeline.say("bye")
    assert pipeline.replies() == ["You're welcome! Anything else I can help with?",
                                  "Goodbye, and thanks for shopping with us!"]


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
    assert pipeline.replies() == [order_status.ASK, "Order C-9001 is delivered."]
    conversation = deps.conversations.load("c1")
    assert conversation.pending is None and conversation.slots == {"order_id": "C-9001"}


def test_order_status_gives_up_after_two_asks(pipeline, deps):
    deps.nlu.table["where is my order?"] = nlu_result("order_status")
    for text in ("where is my order?", "no idea", "still no idea"):
        pipeline.say(text)
    assert pipeline.replies() == [order_status.ASK, order_status.ASK_AGAIN, order_status.GIVE_UP]
    assert deps.conversations.load("c1").pending is None


def test_order_status_unknown_order(pipeline, deps):
    deps.nlu.table["status of Z-9999"] = nlu_result("order_status", entities=[("order_id", "Z-9999")])
    pipeline.say("status of Z-9999")
    assert pipeline.replies() == ["I couldn't find order Z-9999. Could you check the number?"]


def test_product_search_sends_the_entities_and_lists_the_top_three(pipeline, deps, shop):
    deps.nlu.table["blue nike running shoes"] = nlu_result(
        "product_search", entities=[("colour", "blue"), ("brand", "Nike"), ("product", "running shoes")])
    pipeline.say("blue nike running shoes")
    assert shop.searches == [{"query": "running shoes", "brand": "Nike", "colour": "blue"}]
    reply = pipeline.replies()[0]
    assert reply.splitlines() == ["Here's what I found for blue Nike running shoes:",
                                  "1. Pegasus running shoes (Nike, blue) - $119.99",
                                  "2. Vaporfly running shoes (Nike, blue) - $249.99"]


def test_product_search_without_entities_asks_what_then_searches_the_answer(pipeline, deps, shop):
    deps.nlu.table["i want to buy something"] = nlu_result("product_search")
    pipeline.say("i want to buy something")
    pipeline.say("jacket")
    assert pipeline.replies()[1].startswith("Here's what I found for jacket:\n1. Thermoball jacket")


def test_faq_answers_from_the_knowledge_base(pipeline, deps):
    deps.nlu.table["can I return shoes?"] = nlu_result("returns_policy")
    pipeline.say("can I return shoes?")
    assert pipeline.replies() == ["30 days to return."]


def test_out_of_scope_without_an_answer_falls_back_then_offers_a_person(pipeline, deps):
    pipeline.say("what is the meaning of life")
    pipeline.say("tell me a joke")
    assert pipeline.replies() == [fallback.SORRY, fallback.OFFER]
    assert deps.conversations.load("c1").pending.branch == "human_handoff"


def test_accepting_the_offer_hands_off_and_the_bot_goes_silent(pipeline, deps):
    deps.nlu.table["yes"] = nlu_result("affirm")
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("blah")
    pipeline.say("blah blah")
    pipeline.say("yes")
    pipeline.say("hi")  # an agent has the conversation now
    assert pipeline.replies()[2:] == [human_handoff.HANDING_OFF]
    assert deps.conversations.load("c1").handoff is True
    assert deps.turn_log.turns["webchat:c1:hi"]["status"].startswith("silent")


def test_declining_the_offer_keeps_the_bot(pipeline, deps):
    deps.nlu.table["no thanks"] = nlu_result("deny")
    pipeline.say("blah")
    pipeline.say("blah blah")
    pipeline.say("no thanks")
    assert pipeline.replies()[2:] == [human_handoff.DECLINED]
    conversation = deps.conversations.load("c1")
    assert conversation.handoff is False and conversation.pending is None


def test_asking_for_a_person_hands_off_directly(pipeline, deps):
    deps.nlu.table["let me talk to a human"] = nlu_result("human_handoff")
    pipeline.say("let me talk to a human")
    assert pipeline.replies() == [human_handoff.HANDING_OFF]
