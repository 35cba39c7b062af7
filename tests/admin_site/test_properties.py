"""Property tests (Hypothesis) of the catalogue as a data set: a data set imported into the catalogue and
exported again reads back as the same examples, entities and synonyms, and an export imported into an
empty catalogue gives the same catalogue."""
from __future__ import annotations

import string
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from admin_site import catalogue as cat
from admin_site.catalogue import CatalogueStore, dump_yaml, export_document, to_dataset
from admin_site.documents import MemoryDocuments
from nlu import dataset
from nlu.dataset import Dataset, Example, Span
from switchboard import branches
from switchboard.cosmos import CATALOGUE

# Deterministic and database-less: the same examples on every run and every machine.
BRANCHES = branches.load()
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
                    phases=[p for p in Phase if p is not Phase.explain],  # explaining re-runs under a tracer: slow
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TRICKY = ("日本語한국어\u0301🎉👍🏽\u200d\x00\x07\u200b\ufeff\ufffd \t\n\r\u00a0\u2028\u3000\x85İßΣ"
          "-.,!?'(){}@#:;\"\\|~—«»")
chars = st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY), st.sampled_from(string.ascii_letters + "  "))
names = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)  # what the catalogue accepts
plain = st.text(chars, max_size=15).filter(lambda t: not set(t) & set("[]"))
values = st.text(chars, min_size=1, max_size=10).filter(lambda v: not set(v) & set("[]()"))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@st.composite
def examples(draw, intents: list[str], entities: list[str]) -> Example:
    parts, spans, pos = [], [], 0
    for _ in range(draw(st.integers(0, 3 if entities else 0))):
        before, value = draw(plain), draw(values)
        parts += [before, value]
        spans.append(Span(pos + len(before), pos + len(before) + len(value), draw(st.sampled_from(entities))))
        pos += len(before) + len(value)
    parts.append(draw(plain))
    return Example("".join(parts), draw(st.sampled_from(intents)), tuple(spans))


@st.composite
def datasets(draw) -> tuple[Dataset, dict[str, list[str]]]:
    """A data set the catalogue accepts: valid names, every entity declared, utterances all distinct and
    not blank, synonym tables keyed by lower-case alternatives; and lookup values per entity."""
    intents = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    entities = draw(st.lists(names, max_size=3, unique=True))
    train = draw(st.lists(examples(intents, entities), min_size=1, max_size=10, unique_by=lambda e: _norm(e.text))
                 .filter(lambda exs: all(e.text.strip() for e in exs)))
    alternatives = st.text(chars, min_size=1, max_size=8).filter(lambda a: a.lower() == a)
    synonyms = {n: draw(st.dictionaries(alternatives, st.text(chars, min_size=1, max_size=8), max_size=3))
                for n in entities}
    lookups = {n: draw(st.lists(st.text(chars, min_size=1, max_size=8).filter(str.strip), max_size=2, unique=True))
               for n in entities}
    return Dataset({"train": train}, synonyms), lookups


def _store() -> CatalogueStore:
    return CatalogueStore(MemoryDocuments(CATALOGUE, "/kind"), BRANCHES)


def _by_intent(examples: list[Example]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    for e in examples:
        out.setdefault(e.intent, []).append(e)
    return out


def _read_back(text: str) -> Dataset:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalogue.yml"
        path.write_text(text, encoding="utf-8")
        return dataset.read_project(path)


@PROPERTY
@given(datasets())
def test_a_data_set_imported_then_exported_reads_back_the_same(case):
    data, lookups = case
    store = _store()
    summary = store.import_dataset(data, lookups, "test")
    assert summary.added == len(data.splits["train"]) and summary.duplicates_skipped == 0

    inside = to_dataset(store.view())
    assert _by_intent(inside.splits["train"]) == _by_intent(data.splits["train"])
    assert inside.synonyms == data.synonyms

    document, left_out = export_document(store.all(cat.INTENT), store.all(cat.ENTITY))
    assert left_out == []
    assert {e["name"]: e.get("lookup", []) for e in document["entities"]} == {
        n: [v.strip() for v in values] for n, values in lookups.items()}
    back = _read_back(dump_yaml(document))
    assert _by_intent(back.splits["train"]) == _by_intent(data.splits["train"])
    assert back.synonyms == data.synonyms
    assert back.intents == data.intents and back.entities == data.entities


@PROPERTY
@given(datasets())
def test_an_export_imported_into_an_empty_catalogue_gives_the_same_catalogue(case):
    data, lookups = case
    first = _store()
    first.import_dataset(data, lookups, "test")
    exported = first.view().export_yaml
    lookups_back = {e["name"]: e.get("lookup", []) for e in yaml.safe_load(exported)["entities"]}
    second = _store()
    second.import_dataset(_read_back(exported), lookups_back, "test")

    def catalogue(store: CatalogueStore) -> tuple[dict, dict]:
        intents = {d["name"]: (d["examples"], d["route"]) for d in store.all(cat.INTENT)}
        synonyms = {d["name"]: {v: sorted(alts) for v, alts in d["synonyms"].items()} for d in store.all(cat.ENTITY)}
        return intents, synonyms

    assert catalogue(second) == catalogue(first)
    assert second.view().export_yaml == exported  # the same file, byte for byte


@PROPERTY
@given(st.lists(st.one_of(st.characters(), st.sampled_from(TRICKY), st.sampled_from("[]\ud800\udfff")),
                min_size=1, max_size=20).map("".join))
def test_an_example_the_catalogue_accepts_can_be_exported(raw):
    """What is not refused at save time must not break the export (customer texts reach the catalogue
    through the review queue, and a JSON body may carry any code point, lone surrogates included)."""
    store = _store()
    try:
        store.save_intent("greeting", [raw], None, None, "test")
    except cat.Invalid:
        return
    back = _read_back(store.view().export_yaml)
    assert back.splits["train"] == [Example(*dataset.parse_annotated(raw)[:1], "greeting")]
