"""What the admin site and the training worker share: training jobs, the request queue, catalogue
snapshots and the versioned data sets made from them.

Everything lives in one Blob Storage container (`TRAINING_STORE`, `azure://training` by default;
a local folder in unit tests), through the registry's `Store` (conditional writes on ETags):

    snapshots/<id>.json    the catalogue as the admin pressed Train (the data-set document, JSON)
    datasets/<hash>.yml    that snapshot as a data set in the project's format (`train` reads it)
    jobs/<id>.json         one job: request, status, phase, progress, log tail, version, gate, error
    jobs/<id>.log          the job's whole log

Job ids start with the time they were made, so listing `jobs/` lists them in order. A job document
is changed only by read-modify-write on its ETag (`Jobs.update`): the worker's progress and an
admin's Cancel never overwrite each other. The request itself travels on the `training-requests`
Storage queue (`RequestQueue`; `MemoryRequestQueue` is its twin in unit tests).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from switchboard.connections import StorageAccount, storage_account
from switchboard.errors import ConflictError

from .registry import MemoryStore, Registry, open_registry, open_store
from .stores import Store

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage

log = logging.getLogger("training.jobs")
REQUEST_QUEUE = "training-requests"
DEFAULT_STORE = "azure://training"
QUEUED, RUNNING = "queued", "running"
PROMOTED, AWAITING, GATE_FAILED, FAILED, CANCELLED = (
    "promoted", "awaiting promotion", "gate failed", "failed", "cancelled")
FINISHED = (PROMOTED, AWAITING, GATE_FAILED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)
BACKENDS = ("local", "azureml")
LOG_TAIL = 60  # lines kept in the job document
JOB_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")  # new_job_id's shape: what a URL or a request may name
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


class JobError(RuntimeError):
    """A job operation that cannot go ahead; the message says why."""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_job_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class Jobs:
    """Training jobs, snapshots and data sets in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- snapshots and data sets ----------------------------------------------------------------
    def save_snapshot(self, document: dict) -> str:
        """Keep the catalogue as it is now; its id is its content hash (the same catalogue, one id)."""
        data = canonical(document)
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise JobError(f"the catalogue is {len(data) // 1_048_576} MB; a snapshot holds at most "
                           f"{MAX_SNAPSHOT_BYTES // 1_048_576} MB")
        snapshot = content_hash(data)
        self._put_once(f"snapshots/{snapshot}.json", data)
        return snapshot

    def _put_once(self, key: str, data: bytes) -> None:
        """Write content-addressed data; if the key exists, it holds the same content already."""
        try:
            self.store.write(key, data, etag=None)
        except ConflictError:
            pass

    def snapshot(self, snapshot: str) -> dict:
        got = self.store.read(f"snapshots/{snapshot}.json")
        if got is None:
            raise JobError(f"no catalogue snapshot {snapshot}")
        return json.loads(got[0])

    def save_dataset(self, yaml_text: str) -> str:
        """Store a data set under its content hash; returns its key (`datasets/<hash>.yml`)."""
        data = yaml_text.encode()
        key = f"datasets/{content_hash(data)}.yml"
        self._put_once(key, data)
        return key

    def read(self, key: str) -> bytes:
        got = self.store.read(key)
        if got is None:
            raise JobError(f"missing {key}")
        return got[0]

    def url(self, key: str) -> str:
        return self.store.url(key)

    # ---- jobs -----------------------------------------------------------------------------------
    def create(self, requested_by: str, snapshot: str, options: dict, summary: dict | None = None) -> dict:
        job = {"id": new_job_id(), "status": QUEUED, "phase": "waiting for the worker", "requested_by": requested_by,
               "requested_at": now(), "snapshot": snapshot, "options": options, "catalogue": summary or {},
               "attempts": 0, "progress": {}, "log": [], "updated_at": now()}
        self.store.write(f"jobs/{job['id']}.json", canonical(job), etag=None)
        return job

    def get(self, job_id: str) -> dict | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        got = self.store.read(f"jobs/{job_id}.json")
        return json.loads(got[0]) if got else None

    def update(self, job_id: str, change: Callable[[dict], object]) -> dict:
        """Read, apply `change` (it edits the document in place, what it returns is not read; an
        exception leaves it unchanged),
        write on the ETag read; on a conflict, read again and apply again."""
        for _ in range(20):
            got = self.store.read(f"jobs/{job_id}.json")
            if got is None:
                raise JobError(f"no training job {job_id}")
            job = json.loads(got[0])
            change(job)
            job["updated_at"] = now()
            try:
                self.store.write(f"jobs/{job_id}.json", canonical(job), etag=got[1])
                return job
            except ConflictError:
                time.sleep(0.05)
        raise JobError(f"training job {job_id} kept changing; try again")

    def list(self, limit: int = 50) -> list[dict]:
        """The newest `limit` jobs, newest first."""
        keys = sorted((k for k in self.store.list("jobs/") if k.endswith(".json")), reverse=True)[:limit]
        with ThreadPoolExecutor(8) as pool:
            docs = list(pool.map(self.store.read, keys))
        jobs = []
        for key, doc in zip(keys, docs):
            try:
                job = json.loads(doc[0]) if doc else None
            except ValueError:
                job = None
            if isinstance(job, dict) and isinstance(job.get("id"), str) and job.get("status") in (*ACTIVE, *FINISHED):
                jobs.append(job)
            elif doc:
                log.warning("%s is not a training job document; not listed", key)
        return jobs

    def active(self) -> list[dict]:
        return [j for j in self.list(200) if j["status"] in ACTIVE]

    def write_log(self, job_id: str, lines: Iterable[str]) -> None:
        self.store.put_bytes(f"jobs/{job_id}.log", "\n".join(lines).encode())

    def log(self, job_id: str) -> str:
        got = self.store.read(f"jobs/{job_id}.log")
        return got[0].decode("utf-8", "replace") if got else ""


def request_cancel(job: dict, who: str) -> dict:
    """The change an admin's Cancel makes: a queued job ends now; a running one is stopped by the
    worker, which watches `cancel_requested`."""
    if job["status"] not in (QUEUED, RUNNING):
        raise JobError(f"job {job['id']} is {job['status']}; only a queued or running job can be cancelled")
    job["cancel_requested"] = who
    if job["status"] == QUEUED:
        job.update(status=CANCELLED, phase="cancelled before it started", finished_at=now(),
                   error=f"cancelled by {who}")
    return job


def open_jobs(location: str | None = None, connection: str | StorageAccount | None = None) -> Jobs:
    return Jobs(open_store(location or os.environ.get("TRAINING_STORE") or DEFAULT_STORE, connection))


# ---- the request queue ----------------------------------------------------------------------------

@dataclass
class Request:
    content: dict
    dequeue_count: int
    handle: object  # what the queue needs to renew or delete it


class RequestQueue(Protocol):
    def send(self, content: dict) -> None: ...
    def receive(self, visibility_s: int) -> Request | None: ...
    def renew(self, request: Request, visibility_s: int) -> None: ...
    def delete(self, request: Request) -> None: ...


class StorageRequestQueue:
    """`training-requests` on Azure Storage (Azurite locally): JSON text messages."""

    def __init__(self, connection: str | StorageAccount, name: str = REQUEST_QUEUE) -> None:
        from azure.core.exceptions import ResourceExistsError

        self.client = storage_account(connection).queue(name)
        try:
            self.client.create_queue()
        except ResourceExistsError:
            pass

    def send(self, content: dict) -> None:
        self.client.send_message(json.dumps(content))

    def receive(self, visibility_s: int) -> Request | None:
        for msg in self.client.receive_messages(max_messages=1, visibility_timeout=visibility_s):
            try:
                content = json.loads(msg.content)
            except ValueError:
                content = {"unreadable": str(msg.content)[:200]}
            return Request(content, msg.dequeue_count or 1, msg)  # a received message: dequeued once at least
        return None

    def renew(self, request: Request, visibility_s: int) -> None:
        # this queue's requests hold the message they came in (`receive`)
        request.handle = self.client.update_message(cast("QueueMessage", request.handle),
                                                    visibility_timeout=visibility_s)

    def delete(self, request: Request) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.client.delete_message(cast("QueueMessage", request.handle))
        except ResourceNotFoundError:  # taken by another worker since (its receipt replaced ours)
            pass


class MemoryRequestQueue:
    """The queue's twin: messages hidden for their visibility timeout, dequeue counts kept."""

    def __init__(self) -> None:
        self.messages: list[dict] = []  # {"id", "content", "visible_at", "dequeue_count"}
        self.lock = threading.Lock()

    def send(self, content: dict) -> None:
        with self.lock:
            self.messages.append({"id": secrets.token_hex(4), "content": json.loads(json.dumps(content)),
                                  "visible_at": 0.0, "dequeue_count": 0})

    def receive(self, visibility_s: int) -> Request | None:
        with self.lock:
            for m in self.messages:
                if m["visible_at"] <= time.monotonic():
                    m["visible_at"] = time.monotonic() + visibility_s
                    m["dequeue_count"] += 1
                    return Request(m["content"], m["dequeue_count"], m["id"])
        return None

    def renew(self, request: Request, visibility_s: int) -> None:
        with self.lock:
            for m in self.messages:
                if m["id"] == request.handle:
                    m["visible_at"] = time.monotonic() + visibility_s

    def delete(self, request: Request) -> None:
        with self.lock:
            self.messages = [m for m in self.messages if m["id"] != request.handle]



# ---- what the admin site holds -------------------------------------------------------------------

@dataclass
class Training:
    jobs: Jobs
    queue: RequestQueue
    registry: Registry

    def request(self, document: dict, who: str, options: dict, summary: dict | None = None) -> tuple[dict, list[dict]]:
        """Train on `document` (the catalogue as a data-set document): keep the snapshot, make the
        job, put its request on the queue. Returns the job and the jobs ahead of it."""
        ahead = self.jobs.active()
        job = self.jobs.create(who, self.jobs.save_snapshot(document), options, summary)
        try:
            self.queue.send({"job_id": job["id"], "snapshot": job["snapshot"], "requested_by": who,
                             "options": options})
        except Exception as e:  # no request, no worker: the job must not wait forever as queued
            reason = f"the request could not be queued: {e}"
            self.jobs.update(job["id"], lambda j: j.update(status=FAILED, phase="failed", finished_at=now(),
                                                           error=reason))
            raise JobError(reason) from e
        return job, sorted(ahead, key=lambda j: j["id"])


def make_training(connection: str | StorageAccount | None = None, store: str = DEFAULT_STORE,
                  registry: str = "azure://models") -> Training:
    """Blob Storage and the `training-requests` queue with a connection (a connection string or an
    account reached with Entra ID); the in-memory twins without one."""
    if connection:
        return Training(open_jobs(store, connection), StorageRequestQueue(connection),
                        open_registry(registry, connection))
    return Training(Jobs(MemoryStore()), MemoryRequestQueue(), Registry(MemoryStore(), "memory"))
