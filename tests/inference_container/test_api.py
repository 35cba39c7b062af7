"""The NLU HTTP API: its answers, every bad-input case, readiness and the result cache."""
from __future__ import annotations

import json
import time

import pytest

from helpers import run_without
from inference_container.app import create_app
from inference_container.service import Settings
from nlu.artifact import CONTRACT
from nlu.registry import open_registry

FIRST_VERSION = f"{CONTRACT}.0.0"  # what training and an empty registry give a first model
KEY = "nlu-key-of-the-api-tests-0123456789abcdef"  # NLU_API_KEYS: every call but the probes sends it


def keyed(client):
    """A test client that sends the key on every request (tests/inference_container/test_auth.py: without)."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {KEY}"
    return client


def wait_ready(client, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError(client.get("/readyz").get_json())


@pytest.fixture(scope="module")
def client(demo_model):
    app = create_app(Settings(model_dir=str(demo_model), api_keys=(KEY,)))
    c = keyed(app.test_client())
    wait_ready(c)
    return c


def test_the_service_serves_onnx_with_tensorflow_and_the_training_code_unimportable(demo_model):
    """What the serving image holds: the service and the shared NLU package, no TensorFlow."""
    run_without(("tensorflow", "keras", "training_jobs"), f"""
from inference_container.app import create_app
from inference_container.service import Settings
client = create_app(Settings(model_dir={str(demo_model)!r}, api_keys=({KEY!r},))).test_client()
answer = client.post("/v1/models/nlu:parse", json={{"text": "where is my order B-5521"}},
                     headers={{"Authorization": "Bearer {KEY}"}})
assert answer.status_code == 200, answer.get_data(as_text=True)
assert answer.json["intent"]["name"] == "order_status", answer.json
assert "onnxruntime" in sys.modules and "tensorflow" not in sys.modules
""")


def test_parse_returns_version_intent_ranking_and_entity_spans(client):
    text = "where is my order  B-5521"
    r = client.post("/v1/models/nlu:parse", json={"text": text})
    assert r.status_code == 200
    body = r.get_json()
    assert body["model_version"] == FIRST_VERSION
    assert body["intent"]["name"] == "order_status" and 0 < body["intent"]["confidence"] <= 1
    ranking = body["intent_ranking"]
    assert len(ranking) == 5 and ranking[0] == body["intent"]
    assert [x["confidence"] for x in ranking] == sorted((x["confidence"] for x in ranking), reverse=True)
    assert body["out_of_scope"] is False
    [entity] = body["entities"]
    assert entity["entity"] == "order_id" and entity["value"] == "B-5521"
    assert text[entity["start"]:entity["end"]] == "B-5521" and 0 < entity["confidence"] <= 1


def test_batch_parse_keeps_order(client):
    texts = ["hello there", "where is my order B-5521", "thank you so much"]
    r = client.post("/v1/models/nlu:parse", json={"texts": texts})
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [x["text"] for x in results] == texts
    assert [x["intent"]["name"] for x in results] == ["greeting", "order_status", "thanks"]


def test_synonyms_come_back_as_their_canonical_value(client):
    r = client.post("/v1/models/nlu:parse", json={"text": "show me grey Nike socks"}).get_json()
    colours = [e for e in r["entities"] if e["entity"] == "colour"]
    assert colours and colours[0]["value"] == "gray"  # demo.yml: gray: [grey]


def test_model_description_and_health(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["model_version"] == FIRST_VERSION
    info = client.get("/v1/models/nlu").get_json()
    assert info["version"] == FIRST_VERSION and "order_status" in info["intents"]
    assert "order_id" in info["entities"] and "val" in info["metrics"]


def test_a_repeated_text_is_served_from_the_cache(client):
    before = client.get("/v1/models/nlu").get_json()["cache"]
    a = client.post("/v1/models/nlu:parse", json={"text": "Where is order C-7788?"}).get_json()
    b = client.post("/v1/models/nlu:parse", json={"text": "where  is ORDER C-7788?"}).get_json()
    after = client.get("/v1/models/nlu").get_json()["cache"]
    assert after["misses"] == before["misses"] + 1 and after["hits"] == before["hits"] + 1
    assert a["intent"] == b["intent"]
    for r, text in ((a, "Where is order C-7788?"), (b, "where  is ORDER C-7788?")):
        for e in r["entities"]:  # spans are cut from each request's own text
            assert text[e["start"]:e["end"]] == e["value"] or e["entity"] in ("colour", "brand", "product")


BAD = [
    ({"data": "{not json", "content_type": "application/json"}, "invalid JSON"),
    ({"data": '{"text": "hi"}', "content_type": "text/plain"}, "Content-Type must be application/json"),
    ({"data": "hi", "content_type": None}, "Content-Type must be application/json"),
    ({"json": {}}, 'exactly one of "text"'),
    ({"json": {"text": "a", "texts": ["b"]}}, 'exactly one of "text"'),
    ({"json": {"txt": "hello"}}, 'exactly one of "text"'),
    ({"json": ["hello"]}, "body must be a JSON object"),
    ({"json": {"text": 42}}, '"text" must be a string, got int'),
    ({"json": {"text": None}}, '"text" must be a string, got NoneType'),
    ({"json": {"text": "   "}}, '"text" is empty'),
    ({"json": {"text": "x" * 1001}}, '"text" has 1001 characters; the limit is 1000'),
    ({"json": {"texts": "hello"}}, '"texts" must be a non-empty list'),
    ({"json": {"texts": []}}, '"texts" must be a non-empty list'),
    ({"json": {"texts": ["ok", 3]}}, '"texts[1]" must be a string'),
    ({"json": {"texts": ["hi"] * 65}}, '"texts" has 65 items; the limit is 64'),
    ({"data": b'{"text": "\xff\xfe"}', "content_type": "application/json"}, "invalid JSON"),
]


@pytest.mark.parametrize("kwargs, reason", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_a_400_naming_the_problem(client, kwargs, reason):
    r = client.post("/v1/models/nlu:parse", **kwargs)
    assert r.status_code == 400
    assert r.is_json and reason in r.get_json()["error"]


def test_limits_hold_at_the_boundary(client):
    assert client.post("/v1/models/nlu:parse", json={"text": "x" * 1000}).status_code == 200
    assert client.post("/v1/models/nlu:parse", json={"texts": ["hi"] * 64}).status_code == 200


def test_a_body_without_content_length_gets_the_same_answers(client):
    """Chunked uploads carry no Content-Length: Flask's view answers them, not the fast path."""
    def post(body: bytes):
        return client.post("/v1/models/nlu:parse", data=body, content_type="application/json",
                           environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""})

    body = json.dumps({"text": "where is my order B-5521"}).encode()
    chunked, sized = post(body), client.post("/v1/models/nlu:parse", data=body, content_type="application/json")
    assert chunked.status_code == sized.status_code == 200
    assert chunked.get_json() == sized.get_json()
    bad = post(b'{"texts": []}')
    assert bad.status_code == 400 and '"texts" must be a non-empty list' in bad.get_json()["error"]


def test_oversized_body_unknown_route_and_wrong_method_are_json_errors(client):
    r = client.post("/v1/models/nlu:parse", data="x" * (600 * 1024), content_type="application/json")
    assert r.status_code == 413 and r.is_json
    r = client.get("/v1/models/nope")
    assert r.status_code == 404 and r.is_json
    r = client.get("/v1/models/nlu:parse")
    assert r.status_code == 405 and r.is_json


def test_not_ready_until_production_exists_then_follows_the_registry(demo_model, tmp_path):
    registry = open_registry(str(tmp_path / "registry"))
    app = create_app(Settings(registry=str(tmp_path / "registry"), poll_seconds=0.05,
                              model_cache_dir=str(tmp_path / "cache"), ready_wait_seconds=0.2, api_keys=(KEY,)))
    c = keyed(app.test_client())
    time.sleep(0.3)
    r = c.get("/readyz")
    assert r.status_code == 503 and r.get_json()["status"] == "loading"
    r = c.post("/v1/models/nlu:parse", json={"text": "hi"})
    assert r.status_code == 503 and "not ready" in r.get_json()["error"]
    assert c.get("/v1/models/nlu").status_code == 503
    registry.promote(registry.register(demo_model))
    wait_ready(c, timeout=30)
    assert c.post("/v1/models/nlu:parse", json={"text": "hi"}).get_json()["model_version"] == FIRST_VERSION
    app.extensions["nlu"].stop()


def test_a_request_during_the_first_load_waits_for_the_model_instead_of_failing(demo_model):
    app = create_app(Settings(model_dir=str(demo_model), api_keys=(KEY,)))
    assert app.extensions["nlu"].model is None  # still loading in the background
    r = keyed(app.test_client()).post("/v1/models/nlu:parse", json={"text": "hello there"})
    assert r.status_code == 200 and r.get_json()["intent"]["name"] == "greeting"


def test_missing_source_or_runtime_is_refused_at_start():
    with pytest.raises(SystemExit, match="NLU_MODEL_DIR"):
        create_app(Settings(api_keys=(KEY,)))
    with pytest.raises(SystemExit, match="choose onnx or keras"):
        create_app(Settings(model_dir="x", runtime="torch", api_keys=(KEY,)))
