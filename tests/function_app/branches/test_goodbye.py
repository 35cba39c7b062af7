"""goodbye: answers goodbyes and thanks.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from pipeline import nlu_result


def test_thanks_and_goodbye_share_a_branch(pipeline, deps):
    deps.nlu.table["thanks!"] = nlu_result("thanks")
    deps.nlu.table["bye"] = nlu_result("goodbye")
    pipeline.say("thanks!")
    pipeline.say("bye")
    assert pipeline.replies() == ["You're welcome! Anything else I can help with?",
                                  "Goodbye, and thanks for shopping with us!"]
