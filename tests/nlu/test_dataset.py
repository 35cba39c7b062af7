"""The data readers, and every kind of malformed input they must name precisely."""
from __future__ import annotations

import pytest

from helpers import DATASETS, DEMO_DATA
from nlu import dataset as data
from nlu.dataset import DataError, Example, Span


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """format_version: 1
entities:
  - name: order_id
  - name: colour
    synonyms:
      red: [crimson, scarlet]
intents:
  - name: order_status
    examples:
      - where is order [A-1234](order_id)
      - status of [B-9](order_id) please
  - name: product_search
    examples:
      - show me [crimson](colour) shoes
"""


def test_project_format_reads_spans_and_synonyms(tmp_path):
    ds = data.load(write(tmp_path, "d.yml", GOOD))
    first = ds.splits["train"][0]
    assert first == Example("where is order A-1234", "order_status", (Span(15, 21, "order_id"),))
    assert first.text[15:21] == "A-1234"
    assert ds.synonyms["colour"] == {"crimson": "red", "scarlet": "red"}
    assert ds.intents == ["order_status", "product_search"]


def test_lookup_values_are_read_and_a_bad_list_names_its_line(tmp_path):
    with_lookup = GOOD.replace("      red: [crimson, scarlet]",
                               "      red: [crimson, scarlet]\n    lookup: [red, teal, ' ']")
    d = data.load(write(tmp_path, "a.yml", with_lookup))
    assert d.lookups == {"colour": ["red", "teal"]}
    assert d.fingerprint() != data.load(write(tmp_path, "b.yml", GOOD)).fingerprint()
    bad = write(tmp_path, "c.yml",
                GOOD.replace("      red: [crimson, scarlet]", "      red: [crimson]\n    lookup: {red: 1}"))
    with pytest.raises(DataError, match=r"c.yml: line 7: the lookup values of colour must be a list of values"):
        data.load(bad)


def test_project_format_round_trips(tmp_path):
    ds = data.load(write(tmp_path, "d.yml", GOOD))
    data.write_project(ds, tmp_path / "again.yml")
    again = data.load(tmp_path / "again.yml")
    assert again.splits == ds.splits and again.synonyms == ds.synonyms


@pytest.mark.parametrize("example, problem", [
    ("where is order [A-1234(order_id)", "unbalanced annotation bracket"),
    ("where is order A-1234](order_id)", "unbalanced annotation bracket"),
    ("where is order [A-1234](orderid)", "unknown entity 'orderid'"),
    ("'   '", "empty utterance"),
    ("'[](order_id)'", "unbalanced annotation bracket"),
])
def test_project_format_errors_name_file_line_and_problem(tmp_path, example, problem):
    text = GOOD.replace("status of [B-9](order_id) please", example)
    path = write(tmp_path, "bad.yml", text)
    with pytest.raises(DataError) as err:
        data.load(path)
    assert str(path) in str(err.value)
    assert "line 11" in str(err.value)
    assert problem in str(err.value)


def test_duplicate_utterance_in_two_intents_names_both(tmp_path):
    text = GOOD.replace("show me [crimson](colour) shoes", "Where is  order [A-1234](order_id)")
    with pytest.raises(DataError) as err:
        data.load(write(tmp_path, "dup.yml", text))
    msg = str(err.value)
    assert "line 14" in msg and "line 10" in msg and "order_status" in msg and "product_search" in msg


def test_wrong_format_version_and_bad_yaml(tmp_path):
    with pytest.raises(DataError, match="format_version must be 1"):
        data.load(write(tmp_path, "v.yml", GOOD.replace("format_version: 1", "format_version: 9")))
    with pytest.raises(DataError, match=r"line \d+: not valid YAML"):
        data.load(write(tmp_path, "y.yml", "format_version: 1\nintents: [\n"))


def test_csv_reader_and_its_errors(tmp_path):
    ds = data.load(write(tmp_path, "ok.csv", "text,intent\nhello there,greeting\n\"where, is it\",order_status\n"))
    assert [(e.text, e.intent) for e in ds.splits["train"]] == [
        ("hello there", "greeting"), ("where, is it", "order_status")]
    with pytest.raises(DataError, match="bad CSV header"):
        data.load(write(tmp_path, "h.csv", "utterance,label\nhi,greeting\n"))
    with pytest.raises(DataError, match="line 3: empty utterance"):
        data.load(write(tmp_path, "e.csv", "text,intent\nhi,greeting\n ,greeting\n"))
    with pytest.raises(DataError, match="line 3: duplicate utterance"):
        data.load(write(tmp_path, "d.csv", "text,intent\nhi,greeting\nHi,goodbye\n"))


def test_clinc150_reader_keeps_the_published_splits():
    ds = data.load(DATASETS / "clinc150" / "data_full.json")
    counts = {k: len(v) for k, v in ds.splits.items()}
    assert counts == {"train": 15100, "val": 3100, "test": 5500}  # in-scope + oos_* of each split
    assert len(ds.intents) == 151 and data.OOS in ds.intents


def test_clinc150_malformed_record(tmp_path):
    path = write(tmp_path, "c.json", '{"train": [["hi", "greet"], ["x"]], "val": [], "test": []}')
    with pytest.raises(DataError, match=r"train\[1\]: expected \[text, intent\]"):
        data.load(path)


def test_snips_reader_turns_bio_tags_into_character_spans():
    ds = data.load(DATASETS / "snips")
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 13084, "val": 700, "test": 700}
    e = ds.splits["train"][1]  # add step to me to the 50 clásicos playlist
    assert [(e.text[s.start:s.end], s.entity) for s in e.entities] == [
        ("step to me", "entity_name"), ("50 clásicos", "playlist")]


def test_snips_token_tag_mismatch_is_named(tmp_path):
    d = tmp_path / "snips" / "train"
    d.mkdir(parents=True)
    (d / "seq.in").write_text("play some jazz\n")
    (d / "seq.out").write_text("O O\n")
    (d / "label").write_text("PlayMusic\n")
    with pytest.raises(DataError, match="line 1: 3 tokens but 2 tags"):
        data.load(tmp_path / "snips")


def test_demo_data_has_enough_annotated_examples():
    ds = data.load(DEMO_DATA)
    counts = data.intent_counts(ds.splits["train"])
    assert len(counts) >= 12 and min(counts.values()) >= 25
    assert {"order_id", "product", "brand", "colour"} <= set(ds.entities)


def test_unknown_path_and_extension(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load(tmp_path / "nope.yml")
    with pytest.raises(DataError, match="unknown data format"):
        data.load(write(tmp_path, "x.txt", "hi"))



def test_the_gate_split_holds_out_a_fixed_share_that_more_data_never_moves_into_training():
    examples = data.load(DEMO_DATA).splits["train"]
    train, held = data.gate_split(examples)
    assert len(train) + len(held) == len(examples) and 0.1 < len(held) / len(examples) < 0.25
    assert {e.intent for e in held} == {e.intent for e in examples}  # every intent can be scored
    grown = examples + [Example(f"one more way to say hello number {i}", "greeting", ()) for i in range(40)]
    assert {e.text for e in held} <= {e.text for e in data.gate_split(grown)[1]}
    few = [Example(t, "tiny", ()) for t in ("a b", "c d", "e f", "g h")]  # four: all kept for training
    assert data.gate_split(few) == (few, [])
