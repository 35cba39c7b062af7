"""The catalogue store: one test body over the in-memory twin and Cosmos DB (the stand-in), and its
rules over plain data."""
from __future__ import annotations

import uuid

import pytest
from azure.cosmos import CosmosClient

from admin_site import catalogue as cat
from admin_site.catalogue import CatalogueStore, Invalid, seed, to_dataset
from admin_site.documents import CosmosDocuments, MemoryDocuments
from core.routing import ROUTES
from devstack.stack import COSMOS_KEY
from helpers import DEMO_DATA, ROOT
from nlu import dataset
from switchboard import branches
from switchboard.cosmos import CATALOGUE
from switchboard.errors import ConflictError

QNA = ROOT / "devstack" / "data" / "qna.json"
BRANCHES = branches.load()


@pytest.fixture(params=["memory", "cosmos"])
def docs(request):
    if request.param == "memory":
        return MemoryDocuments(CATALOGUE, "/kind")
    client = CosmosClient(request.getfixturevalue("cosmos"), COSMOS_KEY, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"catalogue-{uuid.uuid4().hex[:8]}")
    return CosmosDocuments(database, CATALOGUE, "/kind")


@pytest.fixture
def store(docs):
    return CatalogueStore(docs, BRANCHES)


def test_save_rename_and_delete_an_intent_with_its_etag(store):
    store.save_entity("order_id", {}, [], None, "ann")
    saved = store.save_intent("where_order", ["where is [A-1](order_id)", "track my parcel"], "order_status",
                              None, "ann")
    assert saved["updated_by"] == "ann" and saved["example_count"] == 2
    assert [d["name"] for d in store.all(cat.INTENT)] == ["where_order"]
    renamed = store.rename_intent("where_order", "track_order", saved["_etag"], "bob")
    assert renamed["examples"] == saved["examples"] and renamed["route"] == "order_status"
    assert store.get(cat.INTENT, "where_order") is None
    assert [d["name"] for d in store.all(cat.INTENT)] == ["track_order"]  # the list sees it at once
    with pytest.raises(Invalid, match="still in use"):
        store.delete_intent("track_order", renamed["_etag"])
    store.delete_intent("track_order", renamed["_etag"], confirmed=True)
    assert store.all(cat.INTENT) == []


def test_the_second_of_two_admins_saving_one_intent_gets_a_conflict_naming_the_first(store):
    first = store.save_intent("greeting", ["hi"], "greeting", None, "ann")
    opened_by_ann = opened_by_bob = first["_etag"]
    store.save_intent("greeting", ["hi", "hello"], "greeting", opened_by_ann, "ann")
    with pytest.raises(ConflictError) as lost:
        store.save_intent("greeting", ["hi", "howdy"], "greeting", opened_by_bob, "bob")
    assert lost.value.current["updated_by"] == "ann" and lost.value.current["examples"] == ["hi", "hello"]
    assert store.get(cat.INTENT, "greeting")["examples"] == ["hi", "hello"]  # nothing overwritten
    with pytest.raises(ConflictError):
        store.rename_intent("greeting", "hello", opened_by_bob, "bob")
    with pytest.raises(ConflictError):
        store.delete_intent("greeting", opened_by_bob, confirmed=True)


def test_what_cannot_be_used_is_refused_at_save_time_with_the_reason(store):
    store.save_entity("order_id", {}, [], None, "ann")
    with pytest.raises(Invalid, match="there is no branch 'nowhere'"):
        store.save_intent("lost", ["hi"], "nowhere", None, "ann")
    with pytest.raises(Invalid, match=r"unbalanced annotation bracket '\['"):
        store.save_intent("lost", ["where is [A-1 (order_id)"], None, None, "ann")
    with pytest.raises(Invalid, match="unknown entity 'orderid'"):
        store.save_intent("lost", ["where is [A-1](orderid)"], None, None, "ann")
    with pytest.raises(Invalid, match="lower-case letter"):
        store.save_intent("Bad Name", ["hi"], None, None, "ann")
    with pytest.raises(Invalid, match=r"unknown slot \{city\}"):
        store.save_replies("order_status", {"found": "Order {order_id} is in {city}."}, None, "ann")
    with pytest.raises(Invalid, match="'Navy' is a synonym of both 'blue' and 'black'"):
        store.save_entity("colour", {"blue": ["navy"], "black": ["Navy"]}, [], None, "ann")
    assert store.all(cat.INTENT) == [] and store.get(cat.REPLIES, "order_status") is None
    saved = store.save_replies("order_status", {"found": "{order_id}: {status}"}, None, "ann")
    assert saved["templates"] == {"found": "{order_id}: {status}"} and saved["branch"] == "order_status"


def test_the_seed_gives_every_demo_intent_entity_route_and_reply(store):
    seeded = seed(store, DEMO_DATA, QNA)
    assert seed(store, DEMO_DATA, QNA) is None  # once
    demo = dataset.read_project(DEMO_DATA)
    assert (seeded.intents, seeded.examples) == (len(demo.intents), len(demo.splits["train"]))
    intents = {d["name"]: d for d in store.all(cat.INTENT)}
    assert set(intents) == set(demo.intents)
    assert sum(len(d["examples"]) for d in intents.values()) == len(demo.splits["train"])
    assert all(d["route"] == store.default_route(name) for name, d in intents.items())
    assert intents["order_status"]["route"] == ROUTES["order_status"] == "order_status"
    assert set(store.entity_names()) == set(demo.synonyms)
    assert to_dataset(store.view()).synonyms == demo.synonyms
    replies = {d["branch"]: d["templates"] for d in store.all(cat.REPLIES)}
    for branch, templates in BRANCHES.templates.items():
        assert replies.get(branch, {}) == {k: t.text for k, t in templates.items()}
    assert len(store.all(cat.QNA)) == seeded.qna >= 1


def test_the_seed_leaves_a_catalogue_that_holds_anything_as_it_is(store):
    store.save_qna(None, ["Do you ship abroad?"], "Yes.", None, "ann")
    assert seed(store, DEMO_DATA, QNA) is None
    assert store.all(cat.INTENT) == [] and len(store.all(cat.QNA)) == 1


def test_the_export_reads_back_with_the_training_reader(store, tmp_path):
    seed(store, DEMO_DATA, QNA)
    store.save_entity("brand", {"Levi's": ["levis"], "North Face": ["tnf"]}, ["Nike", "Adidas"],
                      store.get(cat.ENTITY, "brand")["_etag"], "ann")
    store.add_example(cat.OOS, "what's the weather on mars", "ann")
    store.add_example("greeting", "hi", "ann")  # already there: no second copy
    store.save_intent("small_talk", ["hello there", "how are you"], None, None, "ann")  # "hello there" is in greeting
    path = tmp_path / "catalogue.yml"
    path.write_text(store.view().export_yaml, encoding="utf-8")
    back = dataset.read_project(path)  # the reader ignores the lookup: lists
    assert "lookup:" in path.read_text() and "- Nike" in path.read_text()

    def key(e: dataset.Example):
        return e.intent, e.text, e.entities

    expected = {key(e) for e in to_dataset(store.view()).splits["train"] if cat.normalise(e.text) != "hello there"}
    assert {key(e) for e in back.splits["train"]} == expected
    assert ("oos", "what's the weather on mars", ()) in expected
    assert back.synonyms == to_dataset(store.view()).synonyms
    assert store.view().export[1] == ["hello there"]  # left out, and said so


def test_an_import_merges_with_one_save_per_intent_and_skips_duplicates(docs):
    counting = CountingDocuments(docs)
    store = CatalogueStore(counting, BRANCHES)
    store.save_intent("greeting", ["hi"], "greeting", None, "ann")
    rows = [dataset.Example(f"where is my parcel number {i}", "track_parcel") for i in range(300)]
    rows += [dataset.Example("hi", "greeting"), dataset.Example("HI ", "small_talk"),
             dataset.Example("hello", "greeting"), dataset.Example("red shirt", "product_search",
                                                                   (dataset.Span(0, 3, "colour"),))]
    counting.saves = 0
    summary = store.import_dataset(dataset.Dataset({"train": rows}, {"colour": {"crimson": "red"}}),
                                   {"colour": ["red", "blue"]}, "ann")
    assert counting.saves <= 4  # the entity and three intents, not one per example
    assert sorted(summary.intents_created) == ["product_search", "track_parcel"]
    assert summary.examples_added == {"track_parcel": 300, "greeting": 1, "product_search": 1}
    assert summary.duplicates_skipped == 2 and summary.elsewhere == [("HI ", "small_talk", "greeting")]
    assert summary.entities_created == ["colour"] and summary.synonyms_added == 1 and summary.lookups_added == 2
    intents = {d["name"]: d for d in store.all(cat.INTENT)}
    assert intents["greeting"]["examples"] == ["hi", "hello"]
    assert intents["product_search"]["examples"] == ["[red](colour) shirt"]
    assert intents["track_parcel"]["route"] is None and intents["product_search"]["route"] == "product_search"
    again = store.import_dataset(dataset.Dataset({"train": rows}), {}, "ann")
    assert again.added == 0 and again.duplicates_skipped == len(rows)


def test_an_import_with_a_bad_intent_name_changes_nothing(store):
    with pytest.raises(Invalid, match="got 'Not Valid'"):
        store.import_dataset(dataset.Dataset({"train": [dataset.Example("hi", "greeting"),
                                                        dataset.Example("yo", "Not Valid")]}), {}, "ann")
    assert store.all(cat.INTENT) == []


def test_deleting_an_entity_still_annotated_is_refused_unless_confirmed_then_the_words_stay(store):
    entity = store.save_entity("colour", {"blue": ["navy"]}, [], None, "ann")
    store.save_intent("product_search", ["[blue](colour) shoes", "a [navy](colour) coat"], None, None, "ann")
    with pytest.raises(Invalid, match="2 examples annotate colour, in product_search"):
        store.delete_entity("colour", entity["_etag"], "ann")
    assert store.delete_entity("colour", entity["_etag"], "ann", confirmed=True) == 2
    assert store.get(cat.INTENT, "product_search")["examples"] == ["blue shoes", "a navy coat"]
    assert store.entity_names() == []


def test_reads_are_cached_until_any_write_changes_the_stamp(docs):
    counting = CountingDocuments(docs)
    store = CatalogueStore(counting, BRANCHES)
    store.save_intent("greeting", ["hi"], "greeting", None, "ann")
    store.all(cat.INTENT)
    counting.finds = 0
    for _ in range(5):
        store.all(cat.INTENT)
        assert store.view().duplicates == {}
    assert counting.finds == 0
    other_replica = CatalogueStore(docs, BRANCHES)
    other_replica.save_intent("goodbye", ["bye"], "goodbye", None, "bob")
    assert [d["name"] for d in store.all(cat.INTENT)] == ["goodbye", "greeting"]


class CountingDocuments:
    """A Documents that counts saves and queries (the store must batch and cache)."""

    def __init__(self, inner) -> None:
        self.inner, self.saves, self.finds = inner, 0, 0

    def save(self, doc, etag):
        self.saves += 1
        return self.inner.save(doc, etag)

    def find(self, *args, **kwargs):
        self.finds += 1
        return self.inner.find(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


# ---- the rules over plain data -----------------------------------------------------------------

def test_a_textarea_of_examples_names_each_problem_by_its_line():
    text = "where is [A-1](order_id)\n\n  track [it(order_id)\nfind [red](color) shoes\n[x](order_id)"
    examples, problems = cat.parse_examples(text, ["order_id"])
    assert examples == ["where is [A-1](order_id)", "track [it(order_id)", "find [red](color) shoes",
                        "[x](order_id)"]
    assert problems == ["line 3 ('track [it(order_id)'): unbalanced annotation bracket '[': write entities as "
                        "[value](entity_name)",
                        "line 4 ('find [red](color) shoes'): unknown entity 'color' (known: order_id)"]


def test_segments_mark_entity_spans_and_duplicates_ignore_case_spacing_and_annotations():
    assert cat.split_annotated("where is [A-1](order_id) now") == [("where is ", None), ("A-1", "order_id"),
                                                                   (" now", None)]
    assert cat.split_annotated("broken [") == [("broken [", None)]
    intents = [{"name": "a", "examples": ["Where is [A-1](order_id)", "hi"]},
               {"name": "b", "examples": ["where  is a-1"]}]
    assert cat.duplicates(intents) == {"where is a-1": ["a", "b"]}


def test_synonym_lines_parse_and_bad_lines_are_named():
    synonyms, problems = cat.parse_synonyms("blue: navy, cobalt\n\nred: crimson\nno colon here\nblack: Navy")
    assert synonyms == {"blue": ["navy", "cobalt"], "red": ["crimson"]}
    assert problems[0].startswith("line 4 ('no colon here'): write the value, a colon")
    assert problems[1] == "line 5: 'Navy' is already a synonym of 'blue'"
    assert cat.parse_synonyms(cat.format_synonyms(synonyms)) == (synonyms, [])
    assert cat.parse_lookups("Nike\n\n Adidas \nNike") == ["Nike", "Adidas"]


def test_an_intent_with_examples_or_a_route_is_in_use():
    assert cat.intent_in_use({"examples": ["hi"], "route": "greeting"}) == [
        "it has 1 example that train the model", "it routes turns to the greeting branch"]
    assert cat.intent_in_use({"examples": [], "route": None}) == []
    assert cat.strip_entity("a [navy](colour) [A-1](order_id)", "colour") == "a navy [A-1](order_id)"
