"""human_handoff: hands the conversation to a person, directly or as fallback's offer.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from branches import human_handoff
from pipeline import nlu_result


def test_accepting_the_offer_hands_off_and_the_bot_goes_silent(pipeline, deps):
    deps.nlu.table["yes"] = nlu_result("affirm")
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("blah")
    pipeline.say("blah blah")
    pipeline.say("yes")
    pipeline.say("hi")  # an agent has the conversation now
    assert pipeline.replies()[2:] == [human_handoff.REPLIES["handing_off"].text]
    assert deps.conversations.load("c1").handoff is True
    assert deps.turn_log.get("c1", "webchat:c1:hi")["status"].startswith("silent")


def test_declining_the_offer_keeps_the_bot(pipeline, deps):
    deps.nlu.table["no thanks"] = nlu_result("deny")
    pipeline.say("blah")
    pipeline.say("blah blah")
    pipeline.say("no thanks")
    assert pipeline.replies()[2:] == [human_handoff.REPLIES["declined"].text]
    conversation = deps.conversations.load("c1")
    assert conversation.handoff is False and conversation.pending is None


def test_asking_for_a_person_hands_off_directly(pipeline, deps):
    deps.nlu.table["let me talk to a human"] = nlu_result("human_handoff")
    pipeline.say("let me talk to a human")
    assert pipeline.replies() == [human_handoff.REPLIES["handing_off"].text]
