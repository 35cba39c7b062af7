"""faq: answers from the knowledge base.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from pipeline import nlu_result


def test_faq_answers_from_the_knowledge_base(pipeline, deps):
    deps.nlu.table["can I return shoes?"] = nlu_result("returns_policy")
    pipeline.say("can I return shoes?")
    assert pipeline.replies() == ["30 days to return."]
