"""Entity substitution: more training texts for a small catalogue, spans kept exact."""
from helpers import DEMO_DATA
from nlu.dataset import Example, Span, load
from training_jobs.augment import MAX_SOURCE, augment, substitute, value_pools


def test_a_substitution_moves_the_spans_with_the_new_values():
    e = Example("buy Nike t-shirt now", "product_search", (Span(4, 8, "brand"), Span(9, 16, "product")))
    got = substitute(e, {e.entities[0]: "North Face", e.entities[1]: "rain coat"})
    assert got.text == "buy North Face rain coat now"
    assert [got.text[s.start:s.end] for s in got.entities] == ["North Face", "rain coat"]
    assert [s.entity for s in got.entities] == ["brand", "product"]


def test_values_come_from_examples_synonyms_and_lookups():
    data = load(DEMO_DATA)
    pools = value_pools(data.splits["train"], data.synonyms, data.lookups)
    assert {"Zara", "Hoka", "Levi's", "levis"} <= set(pools["brand"])  # lookup, example, synonym
    assert {"navy", "blue", "white"} <= set(pools["colour"])


def test_the_demo_catalogue_gains_variants_that_annotate_only_known_values():
    data = load(DEMO_DATA)
    train = data.splits["train"]
    added = augment(train, data.synonyms, data.lookups, seed=1)
    pools = value_pools(train, data.synonyms, data.lookups)
    assert len(added) > len([e for e in train if e.entities])
    assert not {e.text.lower() for e in added} & {e.text.lower() for e in train}
    for e in added:
        assert e.entities and all(e.text[s.start:s.end] in pools[s.entity] for s in e.entities)
    assert augment(train, data.synonyms, data.lookups, seed=1) == added  # seeded


def test_a_large_catalogue_is_left_alone():
    many = [Example(f"order A-{i}", "order_status", (Span(6, 6 + len(str(i)) + 2, "order_id"),))
            for i in range(MAX_SOURCE + 1)]
    assert augment(many, {}, {}, seed=1) == []
