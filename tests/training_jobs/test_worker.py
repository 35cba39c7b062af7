"""The training worker: a request -> data set in Blob Storage -> 2-process Horovod run -> registered ->
gate -> promoted, over Azurite; a gate failure leaves production alone and says why; bad data fails the
job with the reason; Cancel stops the training processes; a SIGKILLed worker's job is run again once;
the notification is sent and a failing webhook never fails the job."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import yaml

from helpers import DEMO_DATA, ROOT, run_cli
from nlu import dataset
from nlu.artifact import CONTRACT
from nlu.registry import MemoryStore, Registry, open_registry
from nlu.training import (
    AWAITING,
    CANCELLED,
    FAILED,
    GATE_FAILED,
    PROMOTED,
    RUNNING,
    Jobs,
    MemoryRequestQueue,
    StorageRequestQueue,
    Training,
    open_jobs,
    request_cancel,
)
from training_jobs import notify
from training_jobs.backends import PROGRESS, Cancelled
from training_jobs.worker import Worker, WorkerSettings

DOCUMENT = yaml.safe_load(DEMO_DATA.read_text())  # the demo catalogue, as the admin site exports it
FIRST, RETRAINED = f"{CONTRACT}.0.0", f"{CONTRACT}.0.1"  # a registry's first version and its retrain


def training_processes(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            pass
    return found


class CopyBackend:
    """A back-end that 'trains' by copying a ready artifact, printing two progress lines."""

    name = "local"

    def __init__(self, artifact: Path) -> None:
        self.artifact = artifact

    def run(self, spec, on_line, cancelled):
        for epoch in (1, 2):
            on_line(PROGRESS + json.dumps({"epoch": epoch, "epochs": 2, "loss": 0.5, "val_intent_accuracy": 0.9}))
            if cancelled():
                raise Cancelled("cancelled by an admin")
        shutil.copytree(self.artifact, spec.out_path)
        return spec.out_path


@pytest.fixture
def memory(tmp_path):
    return Training(Jobs(MemoryStore()), MemoryRequestQueue(), Registry(MemoryStore(), "memory"))


def worker_for(training: Training, tmp_path, backend=None, sent=None, **settings) -> Worker:
    settings = WorkerSettings(work_dir=str(tmp_path / "work"), notify_url="https://hooks.example/x",
                              admin_url="https://admin.example", **settings)
    backends = {"local": lambda: backend} if backend else None
    post = (lambda url, body: sent.append(body) or True) if sent is not None else (lambda url, body: True)
    return Worker(training.jobs, training.queue, training.registry, settings, backends, post)


# ---- with the in-memory twins and a copying back-end ---------------------------------------------

def test_bad_data_fails_the_job_with_the_readers_reason_and_production_stays(memory, tmp_path, demo_model):
    memory.registry.promote(memory.registry.register(demo_model))
    bad = {"intents": [{"name": "greeting", "examples": ["hi [there(thing)"]},
                       {"name": "goodbye", "examples": ["bye"]}]}
    job, _ = memory.request(bad, "ada", {})
    sent = []
    worker_for(memory, tmp_path, CopyBackend(demo_model), sent).step()
    done = memory.jobs.get(job["id"])
    assert done["status"] == FAILED and "data.yml" in done["error"] and "line" in done["error"], done["error"]
    assert memory.registry.versions() == [FIRST] and memory.registry.production()[0]["version"] == FIRST
    assert sent and sent[0]["status"] == FAILED and sent[0]["error"] == done["error"]
    assert memory.queue.receive(1) is None  # the request is gone: a failed job is not retried


def test_a_job_that_passes_waits_for_an_admin_when_auto_promote_is_off(memory, tmp_path, demo_model):
    memory.registry.promote(memory.registry.register(demo_model))
    job, _ = memory.request(DOCUMENT, "ada", {"auto_promote": False})
    sent = []
    worker_for(memory, tmp_path, CopyBackend(demo_model), sent).step()
    done = memory.jobs.get(job["id"])
    assert done["status"] == AWAITING and done["gate"]["passed"], done
    assert done["version"] == RETRAINED and memory.registry.production()[0]["version"] == FIRST
    assert done["progress"]["epoch"] == 2 and any(line.startswith(PROGRESS) for line in done["log"])
    assert memory.registry.job(RETRAINED)["requested_by"] == "ada"
    assert sent[0]["version"] == RETRAINED and sent[0]["url"] == f"https://admin.example/models/jobs/{job['id']}"
    assert sent[0]["gate"]["passed"] and not sent[0]["promoted"]


def test_a_failing_webhook_never_fails_the_job(memory, tmp_path, demo_model, monkeypatch, caplog):
    monkeypatch.setattr(notify.time, "sleep", lambda s: None)
    job, _ = memory.request(DOCUMENT, "ada", {})
    settings = WorkerSettings(work_dir=str(tmp_path / "work"), notify_url="http://127.0.0.1:9/hook?sig=SECRET")
    Worker(memory.jobs, memory.queue, memory.registry, settings, {"local": lambda: CopyBackend(demo_model)}).step()
    assert memory.jobs.get(job["id"])["status"] == PROMOTED  # no production before: the gate passes
    failures = [r.getMessage() for r in caplog.records if r.name == "training.notify"]
    assert len(failures) == 4 and "not delivered after 3 attempts" in failures[-1]
    assert not any("SECRET" in f for f in failures)  # the URL's secret never reaches the log


def test_a_job_interrupted_twice_is_failed_not_run_a_third_time(memory, tmp_path, demo_model):
    job, _ = memory.request(DOCUMENT, "ada", {})
    memory.jobs.update(job["id"], lambda j: j.update(status=RUNNING, attempts=2))
    memory.jobs.store.put_bytes(f"jobs/{job['id']}.json", json.dumps(  # its last heartbeat: long ago
        {**memory.jobs.get(job["id"]), "updated_at": "2026-01-01T00:00:00+00:00"}).encode())
    sent = []
    worker_for(memory, tmp_path, CopyBackend(demo_model), sent).step()
    done = memory.jobs.get(job["id"])
    assert done["status"] == FAILED and "stopped 2 times" in done["error"] and sent[0]["status"] == FAILED
    assert memory.registry.versions() == []


def test_a_job_cancelled_while_queued_is_skipped(memory, tmp_path, demo_model):
    job, _ = memory.request(DOCUMENT, "ada", {})
    memory.jobs.update(job["id"], lambda j: request_cancel(j, "ada"))
    assert worker_for(memory, tmp_path, CopyBackend(demo_model)).step()
    assert memory.jobs.get(job["id"])["status"] == CANCELLED and memory.registry.versions() == []


def test_a_cancel_asked_while_its_worker_died_is_honoured_not_retried(memory, tmp_path, demo_model):
    job, _ = memory.request(DOCUMENT, "ada", {})
    memory.jobs.update(job["id"], lambda j: j.update(status=RUNNING, attempts=1))
    memory.jobs.update(job["id"], lambda j: request_cancel(j, "bob"))
    memory.jobs.store.put_bytes(f"jobs/{job['id']}.json", json.dumps(  # its worker died long ago
        {**memory.jobs.get(job["id"]), "updated_at": "2026-01-01T00:00:00+00:00"}).encode())
    worker_for(memory, tmp_path, CopyBackend(demo_model)).step()
    done = memory.jobs.get(job["id"])
    assert done["status"] == CANCELLED and done["error"] == "cancelled by bob" and memory.registry.versions() == []


def test_a_cancel_that_arrives_after_training_stops_the_job_before_it_is_promoted(memory, tmp_path, demo_model):
    memory.registry.promote(memory.registry.register(demo_model))
    job, _ = memory.request(DOCUMENT, "ada", {})

    class CancelledAsItEnds(CopyBackend):
        def run(self, spec, on_line, cancelled):
            out = super().run(spec, on_line, cancelled)
            memory.jobs.update(job["id"], lambda j: request_cancel(j, "bob"))
            return out

    worker_for(memory, tmp_path, CancelledAsItEnds(demo_model)).step()
    done = memory.jobs.get(job["id"])
    assert done["status"] == CANCELLED and "bob" in done["error"]
    assert memory.registry.production()[0]["version"] == FIRST


def test_a_job_another_worker_is_running_is_left_to_it(memory, tmp_path, demo_model):
    job, _ = memory.request(DOCUMENT, "ada", {})
    memory.jobs.update(job["id"], lambda j: j.update(status=RUNNING, attempts=1))  # its heartbeat: just now
    assert worker_for(memory, tmp_path, CopyBackend(demo_model)).step()
    assert memory.jobs.get(job["id"])["attempts"] == 1 and memory.registry.versions() == []
    assert len(memory.queue.messages) == 1  # the request stays, for that worker or its successor


def test_a_request_whose_job_cannot_be_read_is_dropped_after_five_tries(memory, tmp_path, caplog):
    job, _ = memory.request(DOCUMENT, "ada", {})
    memory.jobs.store.put_bytes(f"jobs/{job['id']}.json", b"{broken")
    worker = worker_for(memory, tmp_path)
    for attempt in range(1, 6):
        memory.queue.messages[0]["visible_at"] = 0.0
        if attempt < 5:
            with pytest.raises(ValueError):
                worker.step()
        else:
            assert worker.step()
    assert memory.queue.messages == [] and "failed 5 times before its job started" in caplog.text


def test_the_training_processes_get_no_secret_from_the_worker(monkeypatch):
    from training_jobs.backends import training_env

    monkeypatch.setenv("AzureWebJobsStorage", "AccountKey=SECRET")
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", "https://hooks.example/SECRET")
    monkeypatch.setenv("HOROVOD_GLOO_TIMEOUT_SECONDS", "60")
    env = training_env(sys.executable)
    assert not any("SECRET" in v for v in env.values()) and env["HOROVOD_GLOO_TIMEOUT_SECONDS"] == "60"


def test_settings_are_read_and_checked():
    s = WorkerSettings.from_env({"TRAINING_PROCESSES": "4", "TRAINING_AUTO_PROMOTE": "false",
                                 "GATE_TOLERANCE": "0.02", "AzureWebJobsStorage": "conn"})
    assert (s.processes, s.auto_promote, s.tolerance, s.storage.connection_string) == (4, False, 0.02, "conn")
    with pytest.raises(ValueError, match="TRAINING_PROCESSES.*TRAINING_BACKEND"):
        WorkerSettings.from_env({"TRAINING_PROCESSES": "two", "TRAINING_BACKEND": "gpu"})


# ---- over Azurite, with real 2-process Horovod runs ----------------------------------------------

@pytest.fixture
def azure(azurite) -> Training:
    suffix = uuid.uuid4().hex[:8]
    return Training(open_jobs(f"azure://training-{suffix}", azurite),
                    StorageRequestQueue(azurite, f"training-requests-{suffix}"),
                    open_registry(f"azure://models-{suffix}", azurite))


@pytest.fixture(scope="module")
def weak_model(tmp_path_factory) -> Path:
    """A version trained for one epoch: any real training beats it."""
    out = tmp_path_factory.mktemp("weak") / "model"
    run_cli("train", "--data", str(DEMO_DATA), "--out", str(out), "--epochs", "1", "--seed", "2", "--recipe", "fast")
    return out


@pytest.mark.horovod
def test_a_request_is_trained_by_two_horovod_ranks_gated_and_promoted(azure, tmp_path, weak_model, monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_TRANSFORMER_LAYERS", "2")  # the default recipe's transformer, kept small
    weak = azure.registry.register(weak_model)
    azure.registry.promote(weak)
    job, _ = azure.request(DOCUMENT, "ada", {"backend": "local", "epochs": 12})
    sent = []
    assert worker_for(azure, tmp_path, sent=sent, processes=2, visibility_s=30).step()
    done = azure.jobs.get(job["id"])
    assert done["status"] == PROMOTED, (done.get("error"), done.get("gate"), done["log"][-10:])
    # the data set is in Blob Storage under its content hash, in the format `train` reads
    stored = tmp_path / "stored.yml"
    stored.write_bytes(azure.jobs.read(done["dataset"]))
    assert done["dataset"].startswith("datasets/")
    assert len(dataset.load(stored).splits["train"]) == done["data"]["examples"]
    meta = azure.registry.metadata(done["version"])
    assert meta["training"]["ranks"] == 2 and done["version"] != weak
    assert azure.registry.production()[0]["version"] == done["version"]
    gate = done["gate"]
    assert gate["passed"] and gate["production_version"] == weak
    assert gate["new"]["intent_accuracy"] >= gate["production"]["intent_accuracy"]
    assert done["progress"]["epoch"] == done["progress"]["epochs"] and "val_intent_accuracy" in done["progress"]
    assert "registered version" in azure.jobs.log(job["id"]) and sent[0]["promoted"]
    assert set(done["seconds"]) == {"export", "training", "registration", "gate", "promotion"}
    assert azure.queue.receive(1) is None


@pytest.mark.horovod
def test_a_worse_version_fails_the_gate_and_production_stays(azure, tmp_path, demo_model):
    strong = azure.registry.register(demo_model)
    azure.registry.promote(strong)
    job, _ = azure.request(DOCUMENT, "ada", {"backend": "local", "recipe": "fast", "epochs": 1})
    worker_for(azure, tmp_path, processes=2).step()
    done = azure.jobs.get(job["id"])
    assert done["status"] == GATE_FAILED, (done.get("error"), done["log"][-10:])
    assert "below production" in " ".join(done["gate"]["reasons"]) and done["gate"]["dropped_intents"]
    assert azure.registry.production()[0]["version"] == strong
    assert done["version"] in azure.registry.versions()  # registered, shown, not live


@pytest.mark.horovod
def test_cancel_stops_the_training_processes(azure, tmp_path):
    job, _ = azure.request(DOCUMENT, "ada", {"backend": "local", "recipe": "fast", "epochs": 400})
    worker = worker_for(azure, tmp_path, processes=2)
    thread = threading.Thread(target=worker.step)
    thread.start()
    marker = str(tmp_path / "work" / job["id"])
    deadline = time.monotonic() + 120
    while not azure.jobs.get(job["id"]).get("progress"):
        assert time.monotonic() < deadline, azure.jobs.get(job["id"])["log"][-10:]
        time.sleep(0.5)
    assert len(training_processes(marker)) >= 2  # horovodrun and its ranks
    azure.jobs.update(job["id"], lambda j: request_cancel(j, "ada"))
    thread.join(60)
    done = azure.jobs.get(job["id"])
    assert done["status"] == CANCELLED and "asked by ada" in done["error"]
    assert training_processes(marker) == [] and azure.registry.versions() == []


@pytest.mark.horovod
def test_a_sigkilled_workers_job_is_run_again_once(azure, azurite, tmp_path):
    suffix = azure.jobs.store.container.container_name.removeprefix("training-")
    env = {**os.environ, "AzureWebJobsStorage": azurite, "TRAINING_STORE": f"azure://training-{suffix}",
           "NLU_REGISTRY": f"azure://models-{suffix}", "TRAINING_VISIBILITY_SECONDS": "3",
           "TRAINING_WORK_DIR": str(tmp_path / "work"), "TRAINING_QUEUE": f"training-requests-{suffix}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    job, _ = azure.request(DOCUMENT, "ada", {"backend": "local", "recipe": "fast", "epochs": 3})

    def worker() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "training_jobs", "worker"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    first = worker()
    marker = str(tmp_path / "work" / job["id"])
    deadline = time.monotonic() + 120
    while len(training_processes(marker)) < 2:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    deadline = time.monotonic() + 30
    while training_processes(marker):  # the training dies with its worker
        assert time.monotonic() < deadline, "training processes outlived their worker"
        time.sleep(0.2)
    assert azure.jobs.get(job["id"])["status"] == RUNNING
    second = worker()
    try:
        deadline = time.monotonic() + 240
        while azure.jobs.get(job["id"])["status"] == RUNNING or azure.jobs.get(job["id"])["attempts"] < 2:
            assert time.monotonic() < deadline, azure.jobs.get(job["id"])["log"][-10:]
            time.sleep(1)
    finally:
        second.terminate()
        second.wait(30)
    done = azure.jobs.get(job["id"])
    assert done["attempts"] == 2 and done["status"] == PROMOTED, (done.get("error"), done["log"][-10:])
