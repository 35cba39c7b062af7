"""The NLU service serving a cascade: each answer names its tier, the service reports the share
escalated and each tier's latency (on /v1/models/nlu, as metrics and on the request's span), and a
production version that cannot be loaded leaves the one in hand serving."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from helpers import ROOT
from inference_container.app import create_app
from inference_container.service import NluService, Settings
from nlu.registry import open_registry

KEY = "nlu-key-of-the-tiers-tests-0123456789abcdef"
TEXTS = ["where is my order B-5521", "do you sell red Nike running shoes", "hi", "qwerty asdf zxcv",
         "can I pay with paypal", "bye"]


def with_cut(src, dest, cut):
    shutil.copytree(src, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    meta["cascade"] = {"cut": cut}
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


def test_answers_name_their_tier_and_the_service_reports_the_share_escalated(cascade_model, tmp_path):
    app = create_app(Settings(model_dir=str(with_cut(cascade_model, tmp_path / "m", 0.9)), cache_size=0,
                              api_keys=(KEY,)))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {KEY}"
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tiers = [client.post("/v1/models/nlu:parse", json={"text": t}).get_json()["tier"] for t in TEXTS]
    assert set(tiers) <= {"fast", "transformer"} and "fast" in tiers
    report = client.get("/v1/models/nlu").get_json()
    assert report["recipe"] == "cascade" and report["cascade"]["cut"] == 0.9
    counts = report["tiers"]
    assert counts["texts"] == len(TEXTS)
    assert counts["share_escalated"] == round(tiers.count("transformer") / len(TEXTS), 4)
    assert counts["fast"]["p50_ms"] > 0 and counts["fast"]["answered"] == tiers.count("fast")
    batch = client.post("/v1/models/nlu:parse", json={"texts": TEXTS}).get_json()["results"]
    assert [r["tier"] for r in batch] == tiers  # one text alone or in a batch: the same tier


SPANS = r"""
import json, sys, time
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from switchboard import telemetry
memory = InMemorySpanExporter()
telemetry.configure("switchboard-nlu", [SimpleSpanProcessor(memory)], env={})
from inference_container.app import create_app
from inference_container.service import Settings
app = telemetry.instrument_app(create_app(Settings(model_dir=sys.argv[1], cache_size=0, api_keys=(sys.argv[2],))))
client = app.test_client()
while client.get("/readyz").status_code != 200:
    time.sleep(0.05)
for text in ("where is my order B-5521", "qwerty asdf zxcv"):
    client.post("/v1/models/nlu:parse", json={"text": text}, headers={"Authorization": "Bearer " + sys.argv[2]})
for wrong in ("Bearer " + sys.argv[3], sys.argv[3]):  # refused, on the fast path and Flask's
    assert client.post("/v1/models/nlu:parse", json={"text": "hi"}, headers={"Authorization": wrong}).status_code == 401
    assert client.get("/v1/models/nlu", headers={"Authorization": wrong}).status_code == 401
finished = memory.get_finished_spans()
spans = [dict(s.attributes) for s in finished if "switchboard.nlu.tier" in (s.attributes or {})]
every = [{"name": s.name, "attributes": dict(s.attributes or {}),
          "events": [dict(e.attributes or {}) for e in s.events]} for s in finished]
points = {m.name: [(dict(p.attributes), getattr(p, "count", None) or getattr(p, "value", None))
                   for p in m.data.data_points]
          for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
print(json.dumps({"spans": spans, "metrics": points, "every": every}))
"""


def test_each_tiers_latency_is_a_metric_and_on_the_request_span(cascade_model, tmp_path):
    model = with_cut(cascade_model, tmp_path / "m", 1.0001)  # every text escalated
    wrong = "a-key-the-service-does-not-have-0123456789"
    done = subprocess.run([sys.executable, "-c", SPANS, str(model), KEY, wrong], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    # the key (and a wrong one sent) is on no span, and no log line: neither the served requests' nor the refused
    # (the fast path's refusals have their span; Flask's are refused before its instrumentation starts one)
    refused = [s for s in got["every"] if s["attributes"].get("http.status_code") == 401]
    assert len(refused) == 2, [s["name"] for s in got["every"]]
    assert KEY not in json.dumps(got["every"]) and wrong not in json.dumps(got["every"])
    assert done.stderr.count("refused POST /v1/models/nlu:parse") == 2, done.stderr[-3000:]
    assert done.stderr.count("refused GET /v1/models/nlu") == 2, done.stderr[-3000:]
    assert KEY not in done.stderr and wrong not in done.stderr
    assert len(got["spans"]) == 2
    for span in got["spans"]:
        assert span["switchboard.nlu.tier"] == "transformer" and span["switchboard.nlu.escalated"] == 1
        assert span["switchboard.nlu.fast_ms"] > 0 and span["switchboard.nlu.transformer_ms"] > 0
        assert "qwerty" not in json.dumps(span) and "B-5521" not in json.dumps(span)
    durations = {p[0]["switchboard.nlu.tier"]: p[1] for p in got["metrics"]["switchboard.nlu.tier.duration"]}
    assert durations == {"fast": 2, "transformer": 2}
    answered = {p[0]["switchboard.nlu.tier"]: p[1] for p in got["metrics"]["switchboard.nlu.texts"]}
    assert answered == {"transformer": 2}


def test_a_production_version_that_cannot_load_leaves_the_old_one_serving(cascade_model, tmp_path):
    registry = open_registry(str(tmp_path / "registry"))
    good = registry.register(cascade_model)
    registry.promote(good)
    service = NluService(Settings(registry=str(tmp_path / "registry"), model_cache_dir=str(tmp_path / "cache"),
                                  poll_seconds=0.05))
    service.start()
    deadline = time.monotonic() + 60
    while service.model is None:
        assert time.monotonic() < deadline, service.last_error
        time.sleep(0.05)
    broken = registry.register(cascade_model)
    (tmp_path / "registry" / "nlu" / broken / "transformer.onnx").write_bytes(b"\x08\x01 not a graph")
    registry.promote(broken)
    while not service.last_error:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # several polls: the broken version is refused once, not fetched again and again
    service.stop()
    assert service.model.version == good
    assert f"version {broken}" in service.last_error and "transformer.onnx" in service.last_error
    version, [result] = service.parse(["where is my order B-5521"])
    assert version == good and result["intent"]["name"] == "order_status"
