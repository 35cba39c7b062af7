"""The Models page: versions with their metrics and trainer, jobs with progress, Train / Cancel /
Promote / Roll back for admins only (each audited), a version beside production, and the intents that
production knows but no route takes."""
from __future__ import annotations

import json
import re
import uuid

import pytest

from admin_site import DEMO_DATA, DEMO_QNA
from admin_site.catalogue import seed
from admin_site.views.models import elapsed, parse_train_form, side_by_side, unrouted
from nlu.artifact import DEFAULT_RECIPE
from nlu.training import CANCELLED, GATE_FAILED, RUNNING


def make_artifact(folder, intents=("greet", "order_status"), metrics=None):
    folder.mkdir(parents=True)
    meta = {"name": "nlu", "contract": 2, "version": "2.0.0", "intents": list(intents), "tags": ["O"],
            "vocab": ["[PAD]", "[UNK]"], "created": "2026-12-03T08:00:00+00:00", "oos_mode": "threshold",
            "threshold": 0.3, "training": {"train_examples": 40, "ranks": 2}}
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "metrics.json").write_text(json.dumps(metrics or {"test": {
        "intent_accuracy": 0.9, "intent_macro_f1": 0.88, "entity_f1": 0.8,
        "per_intent_f1": {name: 0.9 for name in intents},
        "most_confused": [{"gold": intents[0], "predicted": intents[1], "count": 2}]}}))
    for name in ("model.onnx", "model.onnx.data", "model.h5"):
        (folder / name).write_bytes(uuid.uuid4().bytes)
    return folder


@pytest.fixture
def training(services):
    seed(services.catalogue, DEMO_DATA, DEMO_QNA)
    return services.training


@pytest.fixture
def two_versions(training, tmp_path):
    """2.0.0 in production; 2.1.0 trained by ada with one more intent, registered beside it."""
    reg = training.registry
    first = reg.register(make_artifact(tmp_path / "a"))
    reg.promote(first)
    second = reg.register(make_artifact(tmp_path / "b", ("greet", "order_status", "returns"), {"test": {
        "intent_accuracy": 0.8, "intent_macro_f1": 0.7, "entity_f1": 0.75,
        "per_intent_f1": {"greet": 0.95, "order_status": 0.6, "returns": 0.7}, "most_confused": []}}))
    reg.record_job(second, {"job_id": "20261203T080000-abcdef", "requested_by": "ada", "dataset": "datasets/0123.yml"})
    return first, second


# ---- plain data -----------------------------------------------------------------------------------

def test_the_train_form_names_each_bad_option():
    options, problems = parse_train_form({"backend": "gpu-farm", "epochs": "0", "auto_promote": "maybe",
                                          "recipe": "bert-large"})
    assert len(problems) == 4 and "gpu-farm" in problems[0] and "1 to 500" in problems[1]
    assert "recipe 'bert-large': choose fast, transformer, cascade" in problems[2]
    options, problems = parse_train_form({"backend": "azureml", "epochs": "12", "auto_promote": "no",
                                          "recipe": "transformer"})
    assert not problems and options == {"backend": "azureml", "epochs": 12, "recipe": "transformer",
                                        "auto_promote": False}
    assert parse_train_form({})[0] == {"backend": "local", "recipe": DEFAULT_RECIPE, "auto_promote": None}


def test_elapsed_counts_from_start_to_end_or_now():
    assert elapsed({"status": "queued"}) == ""
    job = {"started_at": "2026-12-03T08:00:00+00:00", "finished_at": "2026-12-03T08:02:05+00:00"}
    assert elapsed(job) == "2 min 05 s"
    assert elapsed({"started_at": "2026-12-03T08:00:00+00:00", "finished_at": "2026-12-03T08:00:42+00:00"}) == "42 s"


def test_side_by_side_puts_the_worst_change_first_and_marks_new_intents():
    table = side_by_side({"per_intent_f1": {"a": 0.9, "b": 0.5, "c": 0.8}},
                         {"per_intent_f1": {"a": 0.9, "b": 0.9}})
    assert [(r["intent"], r["delta"]) for r in table["rows"]] == [("b", -0.4), ("a", 0.0), ("c", None)]


def test_unrouted_lists_known_intents_without_a_route():
    intents = [{"name": "greet", "route": "greeting"}, {"name": "returns", "route": None},
               {"name": "order_status", "route": None}]
    known = ["greet", "returns", "warranty", "order_status", "store_hours", "oos"]
    # store_hours has the code's default route; order_status was un-routed by an admin
    defaults = {"greet": "greeting", "store_hours": "faq", "order_status": "order_status"}.get
    assert unrouted(intents, known, defaults) == ["order_status", "returns", "warranty"]


# ---- pages -----------------------------------------------------------------------------------------

def test_versions_show_metrics_trainer_and_production(client_as, two_versions):
    page = client_as("viewer").get("/models/").get_data(as_text=True)
    first, second = two_versions
    row = re.search(rf'<tr data-version="{re.escape(second)}">.*?</tr>', page, re.S).group(0)
    assert "by ada" in row and "80.0" in row and "datasets/0123.yml" in row
    assert "production" in re.search(rf'<tr data-version="{re.escape(first)}">.*?</tr>', page, re.S).group(0)
    assert 'action="/models/train"' not in page and "/promote" not in page  # a viewer only looks


def test_a_version_is_shown_beside_production(client_as, two_versions):
    page = client_as("viewer").get(f"/models/versions/{two_versions[1]}").get_data(as_text=True)
    order = re.search(r"<td>order_status</td><td>60.0</td><td>90.0</td>\s*<td class=\"error\">-30.0</td>", page)
    assert order, "order_status fell 30 points and is flagged"
    assert "<td>returns</td><td>70.0</td><td>–</td>" in page.replace("\n", "").replace("        ", "")


def test_a_cascade_version_shows_its_tiers_and_the_out_of_scope_curve(client_as, training, tmp_path):
    curve = {"auroc": 0.98, "points": [{"threshold": 0.0, "in_scope_accuracy": 0.96, "oos_recall": 0.0},
                                       {"threshold": 0.13, "in_scope_accuracy": 0.958, "oos_recall": 0.6},
                                       {"threshold": 0.2, "in_scope_accuracy": 0.93, "oos_recall": 0.94}]}
    folder = make_artifact(tmp_path / "c", metrics={
        "test": {"intent_accuracy": 0.95, "intent_macro_f1": 0.95, "entity_f1": 0.0, "per_intent_f1": {}},
        "serving": {"texts": 500, "fast": {"answered": 440, "p50_ms": 0.09, "p95_ms": 0.18},
                    "transformer": {"answered": 60, "p50_ms": 1.9, "p95_ms": 2.5}, "share_escalated": 0.12},
        "calibration": {"curves": {"mahalanobis": curve, "confidence": {**curve, "auroc": 0.97}}}})
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(contract=3, recipe="cascade", cascade={"cut": 0.4777, "max_drop": 0.002},
                detector={"kind": "mahalanobis", "threshold": 0.13},
                transformer={"layers": 6, "parity": {"texts": 3100, "agreement": 0.9987}})
    (folder / "metadata.json").write_text(json.dumps(meta))
    for name in ("transformer.onnx", "transformer.onnx.data", "transformer.h5", "detector.npz"):
        (folder / name).write_bytes(b"x")
    version = training.registry.register(folder)
    page = client_as("viewer").get(f"/models/versions/{version}").get_data(as_text=True)
    assert "the fast tier answers the rest" not in page and "cascade: the fast tier answers what it is sure" in page
    assert "at least 0.478 sure" in page and "12.0 % escalated to the transformer" in page
    assert re.search(r"<td>transformer</td><td>60</td><td>1.9 ms</td><td>2.5 ms</td>", page)
    assert "the same intent for 99.9 % of 3100 held-out texts" in page
    assert "in-scope score below 0.13" in page
    section = re.search(r'<section class="card" id="oos-curve" data-points="([^"]+)"', page)
    assert json.loads(section.group(1).replace("&#34;", '"')) == curve["points"]
    assert "AUROC 98.0 %" in page and "(confidence: 97.0 %)" in page
    assert "js/version.js" in page and "vendor/chart.umd.js" in page


def test_train_queues_a_job_with_the_catalogue_snapshot_and_audits_it(client_as, services, training):
    client = client_as("admin")
    form = client.get("/models/").get_data(as_text=True)
    assert f'<option value="{DEFAULT_RECIPE}" selected>' in form  # the default recipe, chosen
    answer = client.post("/models/train", {"backend": "local", "epochs": "3", "auto_promote": "no",
                                           "recipe": "cascade"})
    assert answer.status_code == 302
    [job] = training.jobs.list()
    assert job["requested_by"] == "admin" and job["status"] == "queued"
    assert job["options"] == {"backend": "local", "epochs": 3, "recipe": "cascade", "auto_promote": False}
    snapshot = training.jobs.snapshot(job["snapshot"])
    assert {i["name"] for i in snapshot["intents"]} == {d["name"] for d in services.catalogue.all("intent")}
    request = training.queue.receive(30)
    assert request.content["job_id"] == job["id"] and request.content["requested_by"] == "admin"
    page = client.get("/models/").get_data(as_text=True)
    assert f"Training job {job['id']} queued" in page and 'data-active="yes"' in page
    assert any(e["action"] == "model.train" and e["target"] == job["id"] for e in services.audit.recent(10))
    # a second Train while the first waits is queued behind it
    client.post("/models/train", {"backend": "local"})
    assert "It waits behind 1 job." in client.get("/models/").get_data(as_text=True)


def test_a_bad_train_form_comes_back_with_the_problem_named(client_as, training):
    answer = client_as("admin").post("/models/train", {"backend": "local", "epochs": "lots"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "epochs &#39;lots&#39;: a whole number" in page and 'value="lots"' in page
    assert training.jobs.list() == []


@pytest.mark.parametrize("who", ["viewer", "editor"])
def test_only_admins_train_cancel_promote_and_roll_back(client_as, training, two_versions, who):
    client = client_as(who)
    job = training.jobs.create("admin", "snap", {"backend": "local"})
    for url in ("/models/train", f"/models/jobs/{job['id']}/cancel", f"/models/versions/{two_versions[1]}/promote",
                "/models/rollback"):
        assert client.post(url).status_code == 403, url
    assert training.jobs.get(job["id"])["status"] == "queued"
    assert training.registry.production()[0]["version"] == two_versions[0]


def test_without_the_csrf_token_nothing_is_queued(client_as, training):
    client = client_as("admin")
    client.csrf = "forged"
    assert client.post("/models/train", {"backend": "local"}).status_code == 400
    assert training.jobs.list() == []


def test_cancel_ends_a_queued_job_and_asks_the_worker_to_stop_a_running_one(client_as, training, services):
    client = client_as("admin")
    queued = training.jobs.create("admin", "snap", {})
    running = training.jobs.create("admin", "snap", {})
    training.jobs.update(running["id"], lambda j: j.update(status=RUNNING))
    client.post(f"/models/jobs/{queued['id']}/cancel")
    client.post(f"/models/jobs/{running['id']}/cancel")
    assert training.jobs.get(queued["id"])["status"] == CANCELLED
    after = training.jobs.get(running["id"])
    assert after["status"] == RUNNING and after["cancel_requested"] == "admin"
    page = client.post(f"/models/jobs/{queued['id']}/cancel", follow_redirects=True).get_data(as_text=True)
    assert "only a queued or running job can be cancelled" in page
    assert sum(e["action"] == "model.cancel" for e in services.audit.recent(10)) == 2


def test_promote_and_roll_back_are_audited(client_as, training, two_versions, services):
    client = client_as("admin")
    first, second = two_versions
    client.post(f"/models/versions/{second}/promote")
    assert training.registry.production()[0]["version"] == second
    assert f"Roll back from {second} to {first}" in client.get("/models/").get_data(as_text=True)
    client.post("/models/rollback")
    assert training.registry.production()[0]["version"] == first
    assert "Roll back" not in client.get("/models/").get_data(as_text=True)  # nothing before the first
    actions = [(e["action"], e["target"]) for e in services.audit.recent(10)]
    assert ("model.promote", second) in actions and ("model.rollback", first) in actions


def test_a_version_that_failed_its_gate_needs_a_confirmation(client_as, training, two_versions):
    first, second = two_versions
    job = training.jobs.create("ada", "snap", {})
    training.jobs.update(job["id"], lambda j: j.update(status=GATE_FAILED, version=second, gate={
        "passed": False, "reasons": ["intent accuracy 80.0% is below production's 90.0% by more than 1.0%"]}))
    training.registry.record_job(second, {"job_id": job["id"]})
    client = client_as("admin")
    page = client.post(f"/models/versions/{second}/promote", follow_redirects=True).get_data(as_text=True)
    assert "failed its gate" in page and "below production" in page
    assert training.registry.production()[0]["version"] == first
    client.post(f"/models/versions/{second}/promote", {"confirm": "yes"})
    assert training.registry.production()[0]["version"] == second


def test_a_job_page_shows_progress_log_and_error_escaped(client_as, training):
    job = training.jobs.create("admin", "snap", {"backend": "local"})
    training.jobs.update(job["id"], lambda j: j.update(
        status=RUNNING, started_at="2026-12-03T08:00:00+00:00", phase="training on local",
        progress={"epoch": 3, "epochs": 12, "loss": 0.4, "val_intent_accuracy": 0.875},
        log=["epoch 3 <script>alert(1)</script>"]))
    client = client_as("viewer")
    page = client.get(f"/models/jobs/{job['id']}").get_data(as_text=True)
    assert "epoch 3 / 12, loss 0.4, validation 87.5 %" in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    polled = client.get("/models/jobs.json").get_json()["jobs"][0]
    assert polled["epoch"] == 3 and polled["active"] and polled["log"] == ["epoch 3 <script>alert(1)</script>"]
    for bad in ("nope", "x" * 5000, "..%2F..%2Fsnapshots%2Fabc"):
        assert client.get(f"/models/jobs/{bad}").status_code == 404


def test_odd_versions_in_urls_are_404s(client_as, two_versions):
    client = client_as("admin")
    for bad in ("9.9.9", "not-a-version", "2.0.0%2F..%2Fproduction.json", "1" * 3000):
        assert client.get(f"/models/versions/{bad}").status_code == 404, bad
        assert client.post(f"/models/versions/{bad}/promote").status_code == 404, bad


def test_a_corrupt_job_document_is_left_out_and_the_page_still_answers(client_as, training):
    job = training.jobs.create("admin", "snap", {})
    training.jobs.store.put_bytes("jobs/20260101T000000-000000.json", b"{not json")
    training.jobs.store.put_bytes("jobs/20260101T000001-000000.json", b'{"id": "x"}')
    client = client_as("viewer")
    assert [j["id"] for j in client.get("/models/jobs.json").get_json()["jobs"]] == [job["id"]]
    assert client.get("/models/").status_code == 200


def test_an_unreachable_registry_is_a_502_that_says_so(client_as, training, monkeypatch):
    from azure.core.exceptions import ServiceRequestError

    def down(*a, **k):
        raise ServiceRequestError("connection refused")
    monkeypatch.setattr(training.registry, "versions", down)
    client = client_as("admin")
    answer = client.get("/models/")
    assert answer.status_code == 502 and "connection refused" in answer.get_data(as_text=True)
    assert client.get("/models/versions/2.0.0").status_code == 502


def test_a_version_whose_job_did_not_pass_its_gate_needs_a_confirmation(client_as, training, two_versions):
    first, second = two_versions
    job = training.jobs.create("ada", "snap", {})
    training.jobs.update(job["id"], lambda j: j.update(status="failed", version=second, error="gate crashed"))
    training.registry.record_job(second, {"job_id": job["id"]})
    client = client_as("admin")
    page = client.post(f"/models/versions/{second}/promote", follow_redirects=True).get_data(as_text=True)
    assert "its training job is failed" in page and training.registry.production()[0]["version"] == first


def test_a_gated_version_is_compared_on_the_gates_own_held_out_set(client_as, training, two_versions):
    first, second = two_versions
    job = training.jobs.create("ada", "snap", {})
    training.jobs.update(job["id"], lambda j: j.update(status="awaiting promotion", version=second, gate={
        "passed": True, "reasons": ["not worse than production"], "production_version": first,
        "per_intent_f1": {"new": {"greet": 1.0, "order_status": 0.5},
                          "production": {"greet": 1.0, "order_status": 0.75}},
        "most_confused": {"new": [{"gold": "order_status", "predicted": "greet", "count": 3}], "production": []}}))
    training.registry.record_job(second, {"job_id": job["id"]})
    page = client_as("viewer").get(f"/models/versions/{second}").get_data(as_text=True)
    assert "the gate&#39;s held-out set, both versions" in page
    assert re.search(r"<td>order_status</td><td>50.0</td><td>75.0</td>\s*<td class=\"error\">-25.0</td>", page)


def test_the_page_names_intents_that_go_to_faq_until_routed(client_as, services, training, tmp_path):
    version = training.registry.register(make_artifact(tmp_path / "m", ("greeting", "order_status", "warranty")))
    training.registry.promote(version)
    page = client_as("viewer").get("/models/").get_data(as_text=True)
    notice = re.search(r'<p class="card" id="unrouted">.*?</p>', page, re.S).group(0)
    assert "warranty" in notice and "faq" in notice and "greeting" not in notice and "order_status" not in notice
