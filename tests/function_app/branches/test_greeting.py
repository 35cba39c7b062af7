"""greeting: says hello and what the bot can do.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from branches import greeting
from pipeline import nlu_result


def test_greeting(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("hi")
    assert pipeline.replies() == [greeting.REPLIES["hello"].text]
