"""Publishing the catalogue's QnA pairs to Azure AI Language custom question answering.

Publishing makes the project's QnAs equal the catalogue's pairs, then deploys the project, so the bot
(`core.clients.QnaClient`, which queries a deployment) answers from what admins curated. It speaks the
authoring REST API, version 2021-10-01, as documented:

- `GET  {endpoint}/language/query-knowledgebases/projects/{project}/qnas?api-version=2021-10-01`: the
  project's QnAs, paged (`{"value": [...], "nextLink": ...}`);
- `PATCH .../projects/{project}/qnas`: a JSON array of `{"op": "add"|"replace"|"delete", "value": QnA}`,
  answered `202 Accepted` with an `Operation-Location` header; the job's state is at
  `.../projects/{project}/qnas/jobs/{jobId}` (`status`: notStarted, running, succeeded, failed, cancelled,
  cancelling, partiallyCompleted; `errors`);
- `PUT .../projects/{project}/deployments/{deployment}`: deploy, answered 202 with `Operation-Location`;
  the job at `.../deployments/{deployment}/jobs/{jobId}`;
- every call carries `Ocp-Apim-Subscription-Key`; a refusal is `{"error": {"code", "message", ...}}`.

Sources: the REST reference (learn.microsoft.com/rest/api/cognitiveservices/questionanswering/
question-answering-projects/update-qnas, get-qnas, get-update-qnas-status, deploy-project,
get-deploy-status; view=rest-questionanswering-2021-10-01), its OpenAPI file
(Azure/azure-rest-api-specs, specification/cognitiveservices/data-plane/Language/stable/2021-10-01/
questionanswering-authoring.json), the how-to "Authoring API" (azure/ai-services/language-service/
question-answering/how-to/authoring: the `operation-location` it shows ends in the job id and carries no
api-version, which a status request needs) and "Project limits and boundaries" (concepts/limits:
answers up to 25,000 characters, questions up to 1,000, 300 alternative questions, 1,000 QnAs per
update call; metadata names `^[a-zA-Z0-9_]+$`, values without `:` or `|`, up to 500 characters,
stored and compared in lower case; 10 records a second on the management API, hence 429s).

Ids: the service numbers QnAs itself (the SDK's own samples add QnAs without an id), so each QnA the
admin site publishes carries its catalogue pair id in metadata (`switchboard_pair: qna-3`). A QnA
without it (one imported from devstack/data/qna.json, the demo's deployed project) stands for the
pair `qna-<its id>`, the id the catalogue's seed gave it.
"""
from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlparse

import httpx

from admin_site.settings import Settings
from switchboard.errors import TransientError
from switchboard.retry import RetryPolicy, retrying

API_VERSION = "2021-10-01"
PAIR_KEY = "switchboard_pair"  # the metadata name that carries a QnA's catalogue pair id
MAX_ANSWER, MAX_QUESTION, MAX_QUESTIONS = 25_000, 1_000, 300  # the service's limits (concepts/limits)
MAX_OPS_PER_CALL = 1_000
METADATA_VALUE = re.compile(r"^[^:|]{1,500}$")
DONE, FAILED = {"succeeded"}, {"failed", "cancelled", "partiallyCompleted"}


class PublishError(Exception):
    """Publishing did not finish; the message says at which step and what the service said."""


@dataclass(frozen=True)
class Pair:
    id: str
    questions: tuple[str, ...]
    answer: str

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Pair:
        return cls(str(doc["id"]), tuple(doc.get("questions") or ()), str(doc.get("answer") or ""))


@dataclass(frozen=True)
class Plan:
    """The update operations that make a project's QnAs equal the pairs, and what they amount to."""
    ops: list[dict] = field(default_factory=list)
    added: int = 0
    replaced: int = 0
    deleted: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class PublishResult:
    added: int
    replaced: int
    deleted: int
    unchanged: int
    deployment: str
    jobs: tuple[str, ...] = ()

    def summary(self) -> str:
        return (f"{self.added} added, {self.replaced} replaced, {self.deleted} deleted, {self.unchanged} "
                f"unchanged; deployed to {self.deployment}")

    def detail(self) -> dict[str, Any]:
        return {"added": self.added, "replaced": self.replaced, "deleted": self.deleted,
                "unchanged": self.unchanged, "deployment": self.deployment, "jobs": list(self.jobs)}


class Publisher(Protocol):
    name: str  # project/deployment, short (the audit log's target)
    target: str  # where it publishes, in words (shown on the QnA page)

    def publish(self, pairs: Iterable[Mapping[str, Any]]) -> PublishResult: ...


# ---- pure logic --------------------------------------------------------------------------------------
def pair_problems(questions: list[str], answer: str) -> list[str]:
    """What the service would refuse in a pair (its documented limits), said so an admin can fix it."""
    problems = []
    if len(answer) > MAX_ANSWER:
        problems.append(f"the answer has {len(answer):,} characters; question answering takes at most {MAX_ANSWER:,}")
    if len(questions) > MAX_QUESTIONS:
        problems.append(f"{len(questions)} questions; question answering takes at most {MAX_QUESTIONS} per pair")
    for i, q in enumerate(questions, 1):
        if len(q) > MAX_QUESTION:
            problems.append(f"question {i} has {len(q):,} characters; question answering takes at most "
                            f"{MAX_QUESTION:,}")
    return problems


def catalogue_id(qna: Mapping[str, Any]) -> str:
    """The catalogue pair a service QnA stands for: its metadata's pair id, or `qna-<id>`."""
    metadata = {str(k).lower(): str(v) for k, v in (qna.get("metadata") or {}).items()}
    return metadata.get(PAIR_KEY, f"qna-{qna['id']}").lower()


def _value(pair: Pair, current: Mapping[str, Any] | None = None) -> dict:
    """A QnA record for `pair`; a replaced one keeps what others set on it (its metadata, its dialog)."""
    value: dict[str, Any] = {"answer": pair.answer, "questions": list(pair.questions),
                             "metadata": {**(current or {}).get("metadata", {}), PAIR_KEY: pair.id.lower()}}
    if current is not None:
        value["id"] = current["id"]
        if current.get("dialog"):
            value["dialog"] = current["dialog"]
    return value


def plan(pairs: Iterable[Pair], current: Iterable[Mapping[str, Any]]) -> Plan:
    """Add the pairs the project lacks, replace those whose answer or questions differ, delete the QnAs
    no pair stands for (and any second QnA for one pair)."""
    wanted = {p.id.lower(): p for p in pairs}
    ops: list[dict] = []
    matched: set[str] = set()
    replaced = deleted = unchanged = 0
    for qna in sorted(current, key=lambda q: q["id"]):
        key = catalogue_id(qna)
        pair = wanted.get(key)
        if pair is None or key in matched:
            ops.append({"op": "delete", "value": {"id": qna["id"], "answer": qna.get("answer", ""),
                                                  "questions": list(qna.get("questions", []))}})
            deleted += 1
            continue
        matched.add(key)
        if qna.get("answer") == pair.answer and list(qna.get("questions") or []) == list(pair.questions):
            unchanged += 1
        else:
            ops.append({"op": "replace", "value": _value(pair, qna)})
            replaced += 1
    fresh = [p for key, p in wanted.items() if key not in matched]
    ops += [{"op": "add", "value": _value(p)} for p in fresh]
    return Plan(ops, added=len(fresh), replaced=replaced, deleted=deleted, unchanged=unchanged)


def checked(pairs: Iterable[Mapping[str, Any]]) -> list[Pair]:
    """The catalogue's pairs, or a PublishError naming each one the service would refuse."""
    result, problems = [], []
    for doc in pairs:
        pair = Pair.of(doc)
        issues = pair_problems(list(pair.questions), pair.answer)
        if not pair.questions:
            issues.append("it has no question")
        if not pair.answer.strip():
            issues.append("its answer is empty")
        if not METADATA_VALUE.match(pair.id):
            issues.append("its id cannot be kept in the service's metadata (no ':' or '|', at most 500 characters)")
        problems += [f"pair {pair.id}: {issue}" for issue in issues]
        result.append(pair)
    if problems:
        raise PublishError("nothing was published: " + "; ".join(problems))
    return result


def batches(ops: list[dict], size: int = MAX_OPS_PER_CALL) -> list[list[dict]]:
    return [ops[i:i + size] for i in range(0, len(ops), size)]


# ---- the in-memory twin ----------------------------------------------------------------------------------
class MemoryPublisher:
    """Publishing without a service (the unit tests, a site without QNA_ENDPOINT): the same plan, applied
    to a project held in memory. `fail_with` makes the next publish fail with that message."""

    def __init__(self, deployment: str = "production") -> None:
        self.deployment, self.name = deployment, f"in-memory/{deployment}"
        self.target = "an in-memory project (QNA_ENDPOINT is not set: the bot does not see what is published)"
        self.qnas: dict[int, dict] = {}
        self.deployed: list[dict] = []
        self.fail_with: str | None = None
        self._lock = threading.Lock()

    def publish(self, pairs: Iterable[Mapping[str, Any]]) -> PublishResult:
        wanted = checked(pairs)
        with self._lock:
            if self.fail_with:
                message, self.fail_with = self.fail_with, None
                raise PublishError(message)
            todo = plan(wanted, self.qnas.values())
            for op in todo.ops:
                value = copy.deepcopy(op["value"])
                if op["op"] == "delete":
                    self.qnas.pop(value["id"], None)
                else:
                    value.setdefault("id", max(self.qnas, default=0) + 1)
                    self.qnas[value["id"]] = value
            self.deployed = copy.deepcopy(list(self.qnas.values()))
        return PublishResult(todo.added, todo.replaced, todo.deleted, todo.unchanged, self.deployment)


# ---- Azure AI Language ---------------------------------------------------------------------------------
class AzurePublisher:
    """The authoring API over httpx: timeouts, 429/5xx retried after their Retry-After, any other refusal
    a PublishError with the service's own message, and bounded waits for the jobs."""

    def __init__(self, endpoint: str, api_key: str, project: str, deployment: str, *, timeout: float = 10.0,
                 policy: RetryPolicy = RetryPolicy(attempts=5, backoff=0.5, max_wait=10.0),
                 job_timeout: float = 90.0, poll_interval: float = 0.5,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.endpoint, self.project, self.deployment = endpoint.rstrip("/"), project, deployment
        self.name = f"{project}/{deployment}"
        self.target = f"project {project or '(QNA_PROJECT not set)'}, deployment {deployment} at {self.endpoint}"
        self._key = api_key
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)), transport=transport,
                                  headers={"Ocp-Apim-Subscription-Key": api_key})
        self._policy, self._job_timeout, self._poll = policy, job_timeout, poll_interval
        self._lock = threading.Lock()  # one publish at a time in this process

    @property
    def _base(self) -> str:
        return f"{self.endpoint}/language/query-knowledgebases/projects/{self.project}"

    def publish(self, pairs: Iterable[Mapping[str, Any]]) -> PublishResult:
        missing = [name for name, value in (("QNA_API_KEY", self._key), ("QNA_PROJECT", self.project),
                                            ("QNA_DEPLOYMENT", self.deployment)) if not value]
        if missing:
            raise PublishError(f"question answering is not configured: {', '.join(missing)} not set")
        wanted = checked(pairs)
        if not self._lock.acquire(blocking=False):
            raise PublishError("a publish is already running; wait for it to finish")
        try:
            todo = plan(wanted, self.qnas())
            jobs = [self._update(ops) for ops in batches(todo.ops)]
            jobs.append(self._deploy())
        finally:
            self._lock.release()
        return PublishResult(todo.added, todo.replaced, todo.deleted, todo.unchanged, self.deployment, tuple(jobs))

    def qnas(self) -> list[dict]:
        """Every QnA of the project, following `nextLink` (at most 1,000 pages)."""
        found: list[dict] = []
        url = f"{self._base}/qnas"
        for _ in range(1000):
            body = self._json(self._call("GET", url, "reading the project's QnAs"), "reading the project's QnAs")
            found += body.get("value") or []
            link = body.get("nextLink")
            if not link:
                return found
            url = self._on_endpoint(link)
        raise PublishError("reading the project's QnAs: the service kept answering with another page")

    def _update(self, ops: list[dict]) -> str:
        what = "updating the project's QnAs"
        response = self._call("PATCH", f"{self._base}/qnas", what, json=ops)
        return self._wait(f"{self._base}/qnas/jobs", self._job_id(response, what), what)

    def _deploy(self) -> str:
        what = f"deploying to {self.deployment}"
        base = f"{self._base}/deployments/{self.deployment}"
        return self._wait(f"{base}/jobs", self._job_id(self._call("PUT", base, what), what), what)

    def _wait(self, jobs_url: str, job_id: str, what: str) -> str:
        """Poll the job until it ends; failed, cancelled, partly done or still running at the deadline
        is a PublishError naming the job and the service's errors."""
        deadline, pause, status = time.monotonic() + self._job_timeout, self._poll, "notStarted"
        while True:
            job = self._json(self._call("GET", f"{jobs_url}/{job_id}", f"{what} (job {job_id})"), what)
            status = job.get("status", "")
            if status in DONE:
                return job_id
            if status in FAILED:
                errors = "; ".join(_describe(e) for e in job.get("errors") or []) or "no reason given"
                raise PublishError(f"{what}: job {job_id} {status}: {errors}")
            if time.monotonic() + pause > deadline:
                raise PublishError(f"{what}: job {job_id} was still {status or 'unknown'} after "
                                   f"{self._job_timeout:.0f} s; it may yet finish: publish again later to check")
            time.sleep(pause)
            pause = min(pause * 1.5, 3.0)

    # ---- HTTP --------------------------------------------------------------------------------------------
    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        params = dict(parse_qsl(urlparse(url).query))
        params.setdefault("api-version", API_VERSION)
        url = url.split("?", 1)[0]
        try:
            response = retrying(self._http, method, url, self._policy, params=params, **kwargs)
        except TransientError as e:
            raise PublishError(f"{what}: question answering at {self.endpoint} did not answer ({e})") from e
        if response.status_code >= 400:
            raise PublishError(f"{what}: question answering answered {response.status_code}: {_message(response)}")
        return response

    def _json(self, response: httpx.Response, what: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise PublishError(f"{what}: question answering answered {response.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise PublishError(f"{what}: question answering answered {response.status_code} with unexpected JSON")
        return body

    def _job_id(self, response: httpx.Response, what: str) -> str:
        """The job id is the last segment of `Operation-Location` (the how-to says so); the status is read
        at the documented job URL on this endpoint, so the key is only ever sent to `endpoint`."""
        location = response.headers.get("Operation-Location", "")
        job_id = urlparse(location).path.rstrip("/").rsplit("/", 1)[-1]
        if response.status_code != 202 or not job_id:
            raise PublishError(f"{what}: expected 202 Accepted with an Operation-Location header, got "
                               f"{response.status_code} {location!r}")
        return job_id

    def _on_endpoint(self, link: str) -> str:
        """A `nextLink`'s path and query, on this endpoint (the key goes nowhere else)."""
        parsed = urlparse(link)
        return f"{self.endpoint}{parsed.path}" + (f"?{parsed.query}" if parsed.query else "")


def _describe(error: Mapping[str, Any]) -> str:
    text = f"{error.get('code', 'error')}: {error.get('message', '')}".strip()
    inner = [_describe(d) for d in error.get("details") or [] if isinstance(d, Mapping)]
    return text + (f" ({'; '.join(inner)})" if inner else "")


def _message(response: httpx.Response) -> str:
    """The service's error, `{"error": {"code", "message", "details"}}`, or the start of the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, Mapping):
        return _describe(error)
    return response.text[:300] or response.reason_phrase


def make_publisher(config: Settings) -> Publisher:
    """Azure AI Language's authoring API at `config.qna_endpoint`, or the in-memory twin without one."""
    if not config.qna_endpoint:
        return MemoryPublisher(config.qna_deployment)
    return AzurePublisher(config.qna_endpoint, config.qna_api_key, config.qna_project, config.qna_deployment)

