"""fallback: sorry, then after two in a row the offer of a person.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from branches import fallback


def test_out_of_scope_without_an_answer_falls_back_then_offers_a_person(pipeline, deps):
    pipeline.say("what is the meaning of life")
    pipeline.say("tell me a joke")
    assert pipeline.replies() == [fallback.REPLIES["sorry"].text, fallback.REPLIES["offer"].text]
    assert deps.conversations.load("c1").pending.branch == "human_handoff"
