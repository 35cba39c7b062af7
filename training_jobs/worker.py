"""The training worker: `python -m training_jobs worker`.

It takes one request at a time from the `training-requests` queue (a second Train waits behind the
running one) and carries its job through:

    export    the catalogue snapshot -> datasets/<content hash>.yml in Blob Storage, checked by the
              same reader `train` uses (bad data fails the job with the file's own error)
    train     on the job's back-end (`local`: horovodrun --gloo here; `azureml`: an MPI command job),
              its progress lines and log copied to the job document every second
    register  the artifact as the next version (the registry's version rules)
    gate      the new version and production parse the catalogue's held-out examples (`gate.py`)
    promote   when the gate passed and auto-promote is on; otherwise the job waits for an admin
    notify    the webhook, if one is set (never fails the job)

The queue message stays hidden while the job runs (renewed every third of its visibility timeout)
and is deleted when the job ends. If the worker dies, the message reappears and the next worker
runs the job again, once: the job's `attempts` counts the tries. Production changes only in
`promote`, on the pointer's ETag, so nothing a failed job did reaches customers.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nlu import dataset as data_mod
from nlu.registry import Registry, RegistryError, open_registry
from nlu.training import (
    AWAITING,
    CANCELLED,
    FAILED,
    FINISHED,
    GATE_FAILED,
    JOB_ID,
    LOG_TAIL,
    PROMOTED,
    REQUEST_QUEUE,
    RUNNING,
    JobError,
    Jobs,
    Request,
    RequestQueue,
    StorageRequestQueue,
    now,
    open_jobs,
)
from switchboard import telemetry
from switchboard.connections import StorageAccount, describe_missing
from switchboard.errors import ConflictError
from switchboard.settings import read_fields, read_storage

from . import notify
from .backends import PROGRESS, Backend, Cancelled, LocalBackend, RunFailed, RunSpec
from .gate import GateRules

log = logging.getLogger("training.worker")
MAX_ATTEMPTS = 2  # a job interrupted by a worker restart is run again once
MAX_DEQUEUES = 5  # a request that keeps failing before its job starts (an unreadable job) is dropped


@dataclass(frozen=True)
class WorkerSettings:
    store: str = "azure://training"  # TRAINING_STORE
    registry: str = "azure://models"  # NLU_REGISTRY
    storage: StorageAccount | None = None  # AzureWebJobsStorage (either form): the queue, the blobs
    queue: str = REQUEST_QUEUE  # TRAINING_QUEUE
    backend: str = "local"  # TRAINING_BACKEND, when a request names none
    processes: int = 2  # TRAINING_PROCESSES: Horovod ranks of the local back-end
    auto_promote: bool = True  # TRAINING_AUTO_PROMOTE, when a request says nothing
    tolerance: float = 0.01  # GATE_TOLERANCE
    new_intent_floor: float = 0.6  # GATE_NEW_INTENT_FLOOR
    notify_url: str = ""  # NOTIFY_WEBHOOK_URL
    admin_url: str = "http://127.0.0.1:7104"  # ADMIN_BASE_URL: the link in notifications
    visibility_s: int = 60  # TRAINING_VISIBILITY_SECONDS
    work_dir: str = "var/training"  # TRAINING_WORK_DIR

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        values, problems = read_fields(cls, env, ENV_NAMES, required=lambda name: False)
        if values.get("backend", "local") not in ("local", "azureml"):
            problems.append("TRAINING_BACKEND: use local or azureml")
        values["storage"], storage_problems = read_storage(env, *STORAGE_SETTINGS)
        problems += storage_problems
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))
        return cls(**values)

    @property
    def rules(self) -> GateRules:
        return GateRules(tolerance=self.tolerance, new_intent_floor=self.new_intent_floor)


STORAGE_SETTINGS = ("AzureWebJobsStorage", "AZURE_STORAGE_CONNECTION_STRING")
ENV_NAMES = {"store": "TRAINING_STORE", "registry": "NLU_REGISTRY", "queue": "TRAINING_QUEUE",
             "backend": "TRAINING_BACKEND", "processes": "TRAINING_PROCESSES", "auto_promote": "TRAINING_AUTO_PROMOTE",
             "tolerance": "GATE_TOLERANCE", "new_intent_floor": "GATE_NEW_INTENT_FLOOR",
             "notify_url": "NOTIFY_WEBHOOK_URL", "admin_url": "ADMIN_BASE_URL",
             "visibility_s": "TRAINING_VISIBILITY_SECONDS", "work_dir": "TRAINING_WORK_DIR"}


class Report:
    """What a running job has to say, gathered from the back-end's thread and written to the job
    document by the heartbeat: progress, the log's tail, and whether an admin asked to cancel."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.progress: dict = {}
        self.marks: list[tuple[str, float]] = [("export", time.monotonic())]  # phase, when it began
        self.cancel_requested = False
        self.changed = False  # since the heartbeat last wrote the job
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            self.lines.append(text)
            self.changed = True
            at = text.find(PROGRESS)  # horovodrun prefixes each line of a rank: `[0]<stdout>:`
            if at >= 0:
                try:
                    self.progress = json.loads(text[at + len(PROGRESS):])
                except ValueError:
                    pass

    def mark(self, phase: str) -> None:
        self.marks.append((phase, time.monotonic()))

    def seconds(self) -> dict[str, float]:
        """How long each phase took, up to now."""
        ends = [t for _, t in self.marks[1:]] + [time.monotonic()]
        return {name: round(end - start, 2) for (name, start), end in zip(self.marks, ends)}

    def apply(self, job: dict) -> None:
        with self.lock:
            self.changed = False
            job["log"] = self.lines[-LOG_TAIL:]
            job["log_lines"] = len(self.lines)
            if self.progress:
                job["progress"] = dict(self.progress)


class Worker:
    def __init__(self, jobs: Jobs, queue: RequestQueue, registry: Registry, settings: WorkerSettings,
                 backends: dict[str, Callable[[], Backend]] | None = None,
                 post: Callable[[str, dict], bool] = notify.post) -> None:
        self.jobs, self.queue, self.registry, self.settings, self.post = jobs, queue, registry, settings, post
        self.backends = backends or {"local": lambda: LocalBackend(settings.processes), "azureml": _azureml}
        self.work = Path(settings.work_dir)
        self.busy = False

    # ---- the loop -----------------------------------------------------------------------------
    def serve(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        log.info("training worker: waiting for requests (back-end %s by default)", self.settings.backend)
        while not stop.is_set():
            try:
                if not self.step():
                    stop.wait(idle_s)
            except Exception:  # Storage unreachable, say: the request stays on the queue
                log.exception("training worker: could not take a request; trying again")
                stop.wait(5 * idle_s)

    def step(self) -> bool:
        """Take one request and see its job to the end; False when the queue was empty."""
        request = self.queue.receive(self.settings.visibility_s)
        if request is None:
            return False
        try:
            if not self._take(request):
                return True  # another worker is running it: its request stays with it
        except Exception:
            if request.dequeue_count < MAX_DEQUEUES:
                raise  # Storage blinked, say: the request comes back
            log.exception("training request %s failed %d times before its job started; dropped",
                          json.dumps(request.content)[:200], request.dequeue_count)
        self.queue.delete(request)
        return True

    def _take(self, request: Request) -> bool:
        """Run the request's job if it still wants running; False if another worker is on it."""
        job_id = str(request.content.get("job_id", ""))
        job = self.jobs.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            log.error("training request %s names no job; dropped", json.dumps(request.content)[:200])
            return True
        if job["status"] in FINISHED:
            log.info("job %s is already %s", job_id, job["status"])
        elif job["status"] == RUNNING and _age(job) < self.settings.visibility_s:  # its worker still beats
            log.warning("job %s is running on another worker; leaving it", job_id)
            return False
        elif job.get("cancel_requested"):  # asked while a worker that then died was running it
            self._notify(self._finish(job_id, CANCELLED, error=f"cancelled by {job['cancel_requested']}"))
        elif job.get("attempts", 0) >= MAX_ATTEMPTS:
            self._notify(self._finish(job_id, FAILED, error=f"the worker stopped {job['attempts']} times while "
                                                            "running this job; it was not tried again"))
        else:
            self.busy = True
            try:
                self.run(job_id, request)
            finally:
                self.busy = False
        return True

    def run(self, job_id: str, request: Request) -> dict | None:
        report, done = Report(), threading.Event()

        def start(job: dict) -> None:  # on the ETag: an admin's Cancel in between wins
            if job["status"] in FINISHED or job.get("cancel_requested"):
                raise _Gone(job["status"])
            job.update(status=RUNNING, attempts=job.get("attempts", 0) + 1, started_at=now(),
                       phase="exporting the data set", log=[], progress={},
                       backend=(job.get("options") or {}).get("backend") or self.settings.backend)
        try:
            job = self.jobs.update(job_id, start)
        except _Gone as e:
            log.info("job %s is %s; not started", job_id, e)
            return None
        beat = threading.Thread(target=self._heartbeat, args=(job_id, request, report, done), daemon=True)
        beat.start()
        folder = self.work / job_id
        try:
            job = self._run(job, folder, report)
        except Cancelled as e:
            job = self._finish(job_id, CANCELLED, report, error=f"{e} (asked by {report.cancel_requested})")
        except (RunFailed, JobError, RegistryError, ValueError) as e:  # DataError is a ValueError
            job = self._finish(job_id, FAILED, report, error=str(e))
        except Exception as e:  # the traceback goes to the worker's log, not to the page
            log.exception("job %s: unexpected failure", job_id)
            job = self._finish(job_id, FAILED, report, error=f"internal error: {type(e).__name__}: {e}")
        finally:
            done.set()
            beat.join()
            self.jobs.write_log(job_id, report.lines)
            shutil.rmtree(folder, ignore_errors=True)
        self._notify(job)
        return job

    def _run(self, job: dict, folder: Path, report: Report) -> dict:
        job_id = job["id"]
        # export
        document = self.jobs.snapshot(job["snapshot"])
        key = self.jobs.save_dataset(dump_dataset(document))
        folder.mkdir(parents=True, exist_ok=True)
        data_path = folder / "data.yml"
        data_path.write_bytes(self.jobs.read(key))
        dataset = data_mod.load(data_path)
        counts = {"intents": len(dataset.intents), "examples": len(dataset.splits["train"])}
        report.line(f"data set {key}: {counts['examples']} examples of {counts['intents']} intents")
        self._phase(job_id, f"training on {job['backend']}", report, "training", dataset=key, data=counts)
        # train
        spec = RunSpec(job_id, data_path, self.jobs.url(key), folder / "model", job["options"].get("epochs"),
                       recipe=job["options"].get("recipe"))
        if job["backend"] not in self.backends:
            raise JobError(f"unknown back-end {job['backend']!r}: use {' or '.join(self.backends)}")
        backend = self.backends[job["backend"]]()
        artifact = backend.run(spec, report.line, lambda: bool(report.cancel_requested))
        self._check_cancel(report)
        # register
        self._phase(job_id, "registering the version", report, "registration")
        version = self.registry.register(artifact)
        from .evaluate import summary  # onnxruntime: loaded when a job gets this far, not at start

        metrics = json.loads((artifact / "metrics.json").read_text())
        self.registry.record_job(version, {"job_id": job_id, "requested_by": job["requested_by"],
                                           "requested_at": job["requested_at"], "dataset": key,
                                           "snapshot": job["snapshot"], "backend": job["backend"]})
        report.line(f"registered version {version}")
        self._phase(job_id, "gating against production", report, "gate", version=version, metrics=summary(metrics))
        # gate
        verdict, pointer = self._gate(artifact, dataset)
        report.line("gate: " + "; ".join(verdict["reasons"]))
        # promote
        auto = job["options"].get("auto_promote")
        auto = self.settings.auto_promote if auto is None else bool(auto)
        if not verdict["passed"]:
            return self._finish(job_id, GATE_FAILED, report, gate=verdict)
        if not auto:
            return self._finish(job_id, AWAITING, report, gate=verdict)
        self._check_cancel(report, job_id)
        report.mark("promotion")
        try:
            self.registry.promote(version, pointer)
        except ConflictError:
            verdict["reasons"].append("production changed while the gate ran; promote it by hand if it is still wanted")
            return self._finish(job_id, AWAITING, report, gate=verdict)
        report.line(f"promoted {version} to production")
        return self._finish(job_id, PROMOTED, report, gate=verdict, promoted_at=now())

    def _gate(self, artifact: Path, dataset: data_mod.Dataset) -> tuple[dict, tuple]:
        """The gate's verdict, and the production pointer it was reached against (promote on its ETag)."""
        from nlu.artifact import load_model

        from .evaluate import predict
        from .gate import compare

        held_out = data_mod.with_test_split(dataset.splits)["test"]
        new = load_model(artifact)
        pointer = self.registry.production()
        production: str | None = pointer[0].get("version") if pointer[0] else None
        if not production:
            return compare(held_out, predict(new, held_out), None, new.intents, []), pointer
        old = load_model(self.registry.fetch(production, self.work / "registry-cache"))
        verdict = compare(held_out, predict(new, held_out), predict(old, held_out), new.intents, old.intents,
                          self.settings.rules)
        verdict["production_version"] = production
        return verdict, pointer

    def _check_cancel(self, report: Report, job_id: str | None = None) -> None:
        """Between phases: an admin's Cancel stops the job before it registers or promotes."""
        if job_id and not report.cancel_requested:
            report.cancel_requested = (self.jobs.get(job_id) or {}).get("cancel_requested") or False
        if report.cancel_requested:
            raise Cancelled("cancelled by an admin before it went further")

    # ---- the job document ---------------------------------------------------------------------
    def _phase(self, job_id: str, phase: str, report: Report, mark: str, **fields) -> None:
        report.mark(mark)
        self.jobs.update(job_id, lambda j: (report.apply(j), j.update(phase=phase, **fields)))

    def _finish(self, job_id: str, status: str, report: Report | None = None, **fields) -> dict:
        phases = {PROMOTED: "live in production", AWAITING: "waiting for an admin to promote it",
                  GATE_FAILED: "not promoted: worse than production", FAILED: "failed", CANCELLED: "cancelled"}

        def change(job: dict) -> None:
            if report:
                report.apply(job)
                job["seconds"] = report.seconds()  # per phase: export, training, registration, gate, promotion
            job.update(status=status, phase=phases[status], finished_at=now(), **fields)
        job = self.jobs.update(job_id, change)
        log.info("job %s: %s%s", job_id, status, f" ({fields['error']})" if fields.get("error") else "")
        return job

    def _heartbeat(self, job_id: str, request: Request, report: Report, done: threading.Event) -> None:
        """Every second: the progress and log tail to the job, an admin's cancel from it; every third
        of the visibility timeout: the queue message hidden again."""
        renewed = written = time.monotonic()
        while not done.wait(1.0):
            if time.monotonic() - renewed > self.settings.visibility_s / 3:
                try:
                    self.queue.renew(request, self.settings.visibility_s)
                    renewed = time.monotonic()
                except Exception as e:  # the next beat tries again, well within the timeout
                    log.warning("job %s: could not renew its request: %s", job_id, e)
            try:
                if report.changed or time.monotonic() - written > self.settings.visibility_s / 3:  # "alive"
                    job = self.jobs.update(job_id, report.apply)
                    written = time.monotonic()
                else:
                    job = self.jobs.get(job_id) or {}
                if job.get("cancel_requested") and not report.cancel_requested:
                    report.cancel_requested = job["cancel_requested"]
                    report.line(f"cancel requested by {job['cancel_requested']}")
            except Exception as e:  # Storage blinked: the next beat tries again
                log.warning("job %s: heartbeat failed: %s", job_id, e)

    def _notify(self, job: dict) -> None:
        if self.settings.notify_url and job["status"] in FINISHED:
            self.post(self.settings.notify_url, notify.payload(job, self.settings.admin_url))


class _Gone(Exception):
    """The job ended (cancelled) between taking its request and starting it."""


def _age(job: dict) -> float:
    """Seconds since the job document last changed."""
    try:
        return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(job["updated_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def dump_dataset(document: dict) -> str:
    """A catalogue snapshot in the project's data-set format (what `train --data` reads)."""
    return data_mod.dump_yaml(document, "# A Switchboard catalogue snapshot: python -m training_jobs train "
                                        "--data THIS_FILE\n")


def _azureml() -> Backend:
    from .azureml import AzureMLBackend, AzureMLSettings

    return AzureMLBackend(AzureMLSettings.from_env())


def main(settings: WorkerSettings | None = None) -> int:
    import signal

    telemetry.configure("switchboard-training-worker")
    settings = settings or WorkerSettings.from_env()
    if settings.storage is None:
        raise ValueError(describe_missing(*STORAGE_SETTINGS) + ": the training-requests queue")
    worker = Worker(open_jobs(settings.store, settings.storage), StorageRequestQueue(settings.storage, settings.queue),
                    open_registry(settings.registry, settings.storage), settings)
    stop = threading.Event()

    def stopping(*_) -> None:
        """Idle: stop after this poll. Mid-job: leave now; the job's processes stop with the worker
        and its request, still on the queue, brings it back to the next worker (one retry)."""
        stop.set()
        if worker.busy:
            raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stopping)
    worker.serve(stop)
    return 0
