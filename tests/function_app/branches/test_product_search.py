"""product_search: the entities go to the shop's search; the top three come back.

Through the in-memory pipeline: understand -> the branch's Blueprint -> deliver.
"""
from pipeline import nlu_result


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
