"""The Import / export page: uploads read by the training CLI's readers with their line-level errors,
named after the uploaded file; merging with a summary and one audit record; the size limit; the export
read back by the training reader; a 10,000-line CSV imported in well under 10 s."""
from __future__ import annotations

import html
import io
import re
import time
import uuid

import pytest

from admin_site import catalogue as cat
from admin_site import create_app
from admin_site.catalogue import seed, to_dataset
from admin_site.services import build
from adminclient import PASSWORD, Client, make_settings
from devstack.stack import COSMOS_KEY
from helpers import DEMO_DATA, ROOT
from nlu import dataset

QNA = ROOT / "devstack" / "data" / "qna.json"


def _text(answer) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", answer.get_data(as_text=True)))


def _upload(client, name: str, content: bytes | str):
    body = content.encode() if isinstance(content, str) else content
    return client.post("/data/import", {"file": (io.BytesIO(body), name)}, content_type="multipart/form-data")


YAML = """format_version: 1
entities:
  - name: colour
    synonyms:
      red: [crimson]
    lookup: [red, blue]
intents:
  - name: product_search
    examples:
      - show me [red](colour) shoes
      - any shoes?
  - name: greeting
    examples:
      - hi
"""


def test_a_yaml_import_merges_and_shows_a_summary_with_one_audit_record(client_as, services):
    services.catalogue.save_intent("greeting", ["hi"], "greeting", None, "seed")
    answer = _upload(client_as("editor"), "more.yml", YAML)
    text = _text(answer)
    assert answer.status_code == 200 and "Imported more.yml" in text
    assert re.search(r"Intents created\s*1:\s*product_search", text)
    assert re.search(r"Examples added\s*2:\s*product_search \+2", text)
    assert re.search(r"Duplicates skipped\s*1 ", text) and re.search(r"Lookup values added\s*2", text)
    intent = services.catalogue.get(cat.INTENT, "product_search")
    assert intent["examples"] == ["show me [red](colour) shoes", "any shoes?"]
    assert intent["route"] == "product_search"  # the code's default route
    colour = services.catalogue.get(cat.ENTITY, "colour")
    assert colour["synonyms"] == {"red": ["crimson"]} and colour["lookups"] == ["red", "blue"]
    records = [r for r in services.audit.recent() if r["action"] == "data.import"]
    assert len(records) == 1 and records[0]["target"] == "more.yml"
    assert records[0]["detail"]["examples_added"] == 2


@pytest.mark.parametrize("name, content, expected", [
    ("bad.yml", YAML.replace("[red](colour) shoes", "[red(colour) shoes"),
     "bad.yml: line 10: unbalanced annotation bracket '['"),
    ("bad.yml", YAML.replace("(colour) shoes", "(color) shoes"), "bad.yml: line 10: unknown entity 'color'"),
    ("bad.yml", YAML.replace("format_version: 1", "format_version: 2"), "bad.yml: line 1: format_version must be 1"),
    ("bad.yml", YAML.replace("name: greeting", "name: Greeting Words"),
     "bad.yml: line 12: an intent name is a lower-case letter"),
    ("bad.yml", YAML.replace("lookup: [red, blue]", "lookup: {red: 1}"),
     "bad.yml: line 6: the lookup values of colour must be a list of values"),
    ("dup.yml", YAML.replace("- hi", "- any SHOES?"), "dup.yml: line 14: duplicate utterance 'any SHOES?'"),
    ("bad.csv", "text,intent\nhello,greeting\nwhere is [A-1 please,order_status\n",
     "bad.csv: line 3: unbalanced annotation bracket '['"),
    ("bad.csv", "text,intent\nhello,greeting\nbye,Good Bye\n", "bad.csv: line 3: an intent name is a lower-case"),
    ("bad.csv", "words,label\nhello,greeting\n", "bad.csv: line 1: bad CSV header"),
    ("bad.csv", "text,intent\nhello,greeting,extra\n", "bad.csv: line 2: expected 2 columns"),
    ("notes.txt", "hello", "notes.txt: not a data set: upload a .yml or .yaml file"),
    ("latin.csv", "text,intent\ncaf\xe9,greeting\n".encode("latin-1"), "latin.csv: not UTF-8 text"),
    ("empty.yml", "", "empty.yml: the file is empty"),
    ("data.yml", "intents: [unclosed", "data.yml: line 1: not valid YAML"),
])
def test_a_bad_file_is_refused_with_the_file_the_line_and_the_problem_and_nothing_changes(
        client_as, services, name, content, expected):
    answer = _upload(client_as("editor"), name, content)
    text = _text(answer)
    assert answer.status_code == 400 and "Nothing was imported" in text
    assert expected in text, text[text.index("Nothing was imported"):][:500]
    assert "upload." not in text and "/tmp" not in text  # the uploaded file's name, not the temporary one
    assert services.catalogue.all(cat.INTENT) == []


def test_a_csv_with_a_byte_order_mark_imports_and_its_texts_may_carry_annotations(client_as, services):
    services.catalogue.save_entity("order_id", {}, [], None, "seed")
    content = "\ufefftext,intent\nwhere is [A-1](order_id),order_status\n\"hi, there\",greeting\n\n"
    answer = _upload(client_as("editor"), "excel.csv", content.encode("utf-8"))
    assert answer.status_code == 200 and "Imported excel.csv" in _text(answer)
    assert services.catalogue.get(cat.INTENT, "order_status")["examples"] == ["where is [A-1](order_id)"]
    assert services.catalogue.get(cat.INTENT, "greeting")["examples"] == ["hi, there"]


def test_an_upload_over_the_limit_is_a_clear_page_naming_the_limit(services):
    services.settings = make_settings(max_upload_bytes=64 * 1024)
    client = Client(create_app(services=services), "editor")
    answer = _upload(client, "big.csv", "text,intent\n" + "hello there,greeting\n" * 5000)
    text = _text(answer)
    assert answer.status_code == 413 and "larger than the 64 KB limit" in text
    assert "Files up to 64 KB" in text and "Traceback" not in text
    anonymous = Client(create_app(services=services))
    refused = anonymous.http.post("/data/import", data={"file": (io.BytesIO(b"x" * 70_000), "a.csv")},
                                  content_type="multipart/form-data")
    assert refused.status_code == 413 and "larger than the 64 KB limit" in _text(refused)
    assert services.catalogue.all(cat.INTENT) == []


def test_the_page_states_the_default_limit(client_as):
    assert "Files up to 5 MB" in _text(client_as("viewer").get("/data/"))


def test_the_export_is_a_data_set_the_training_reader_reads_unchanged(client_as, services, tmp_path):
    seed(services.catalogue, DEMO_DATA, QNA)
    services.catalogue.add_example(cat.OOS, "what is the meaning of life", "seed")
    brand = services.catalogue.get(cat.ENTITY, "brand")
    services.catalogue.save_entity("brand", brand["synonyms"], ["Nike", "Levi's"], brand["_etag"], "seed")
    answer = client_as("viewer").get("/data/export")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == 'attachment; filename="catalogue.yml"'
    path = tmp_path / "catalogue.yml"
    path.write_bytes(answer.data)
    back = dataset.read_project(path)
    demo = dataset.read_project(DEMO_DATA)
    assert set(back.splits["train"]) == set(demo.splits["train"]) | {
        dataset.Example("what is the meaning of life", "oos")}
    assert back.synonyms == demo.synonyms
    assert "lookup:\n  - Nike\n  - Levi's" in answer.get_data(as_text=True)
    # and it comes back in: an empty catalogue importing the export holds the same data set
    other = build(make_settings())
    other.accounts.create("editor", "editor", PASSWORD, by="test")
    imported = _upload(Client(create_app(services=other), "editor"), "catalogue.yml", answer.data)
    assert imported.status_code == 200
    assert set(to_dataset(other.catalogue.view()).splits["train"]) == set(back.splits["train"])
    assert other.catalogue.get(cat.ENTITY, "brand")["lookups"] == ["Nike", "Levi's"]


@pytest.fixture(params=["memory", "cosmos"])
def any_store_services(request):
    if request.param == "memory":
        svc = build(make_settings())
    else:
        svc = build(make_settings(cosmos_endpoint=request.getfixturevalue("cosmos"), cosmos_key=COSMOS_KEY,
                                cosmos_database=f"data-{uuid.uuid4().hex[:8]}"))
    svc.accounts.create("editor", "editor", PASSWORD, by="test")
    return svc


def test_a_10000_line_csv_imports_in_well_under_10_seconds(any_store_services):
    services = any_store_services
    seed(services.catalogue, DEMO_DATA, QNA)
    client = Client(create_app(services=services), "editor")
    lines = [f"please tell me about item {i} in aisle {i % 97},topic_{i % 13}" for i in range(10_000)]
    started = time.perf_counter()
    answer = _upload(client, "big.csv", "text,intent\n" + "\n".join(lines) + "\n")
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200 and re.search(r"Examples added\s*10000", _text(answer))
    assert elapsed < 5.0, f"the import took {elapsed:.1f} s"
    started = time.perf_counter()
    for url in ("/intents/", "/intents/topic_3", "/data/", "/entities/"):
        assert client.get(url).status_code == 200
    assert time.perf_counter() - started < 2.0
