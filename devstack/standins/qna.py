"""The question answering stand-in: Azure AI Language custom question answering, api-version 2021-10-01.

The runtime query the bot sends, `POST /language/:query-knowledgebases` (answered from the last
deployment), and the authoring calls the admin site publishes with (update the QnAs, deploy, the jobs):
REST reference "Question Answering Projects", view=rest-questionanswering-2021-10-01; the OpenAPI file
questionanswering-authoring.json; the how-to "Authoring API"; "Project limits and boundaries". Edits
reach the bot only when deployed. Jobs end `job_seconds` after they were accepted, polled through their
job URL as on Azure (its `Operation-Location`, like the how-to's example, ends in the job id and carries
no api-version). The project starts deployed as `production` with devstack/data/qna.json.
"""
from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, jsonify, request

from devstack.standins import DATA, words

QNA_API_VERSIONS = ("2021-10-01",)
QNA_SOURCE = "devstack/data/qna.json"
APIM_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
               "valid key for an active subscription and use a correct regional API endpoint for your resource.")
QNA_LIMITS = {"answer": 25_000, "question": 1_000, "questions": 300, "ops": 1_000, "source": 300, "value": 500}
METADATA_NAME, METADATA_VALUE = re.compile(r"^[a-zA-Z0-9_]{1,100}$"), re.compile(r"^[^:|]{1,500}$")


def _language_error(status: int, code: str, message: str, details: list[str] | None = None):
    """The Language service's error shape: `{"error": {"code", "message", "details"?}}`."""
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = [{"code": "InvalidArgument", "message": d} for d in details]
    response = jsonify({"error": error})
    response.status_code = status
    return response


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _strings(value, name: str, low: int, high: int, each: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [f"'{name}' must be an array of strings"]
    problems = [] if low <= len(value) <= high else [f"'{name}' holds {low} to {high} items, got {len(value)}"]
    return problems + [f"{name}[{i}] must be 1 to {each} characters" for i, v in enumerate(value)
                       if not v.strip() or len(v) > each]


def qna_record_problems(value, op: str) -> list[str]:
    """Why one operation's `value` (a QnaRecord) is refused: the OpenAPI schema and the documented limits."""
    if not isinstance(value, dict):
        return ["'value' must be a QnA record (an object)"]
    problems = []
    if op in ("replace", "delete") and (not isinstance(value.get("id"), int) or isinstance(value.get("id"), bool)):
        problems.append(f"'{op}' needs the integer 'id' of an existing QnA")
    if op == "delete":
        return problems
    answer = value.get("answer")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > QNA_LIMITS["answer"]:
        problems.append(f"'answer' must be a string of 1 to {QNA_LIMITS['answer']} characters")
    problems += _strings(value.get("questions"), "questions", 1, QNA_LIMITS["questions"], QNA_LIMITS["question"])
    metadata = value.get("metadata", {})
    if not isinstance(metadata, dict):
        problems.append("'metadata' must be an object of names and values")
    else:
        problems += [f"metadata name {k!r} allows letters, digits and '_' only (at most 100)"
                     for k in metadata if not METADATA_NAME.match(str(k))]
        problems += [f"metadata value {v!r} must be 1 to 500 characters without ':' or '|'"
                     for v in metadata.values() if not isinstance(v, str) or not METADATA_VALUE.match(v)]
    source = value.get("source", "")
    if not isinstance(source, str) or len(source) > QNA_LIMITS["source"]:
        problems.append(f"'source' must be a string of at most {QNA_LIMITS['source']} characters")
    if not isinstance(value.get("dialog", {}), dict):
        problems.append("'dialog' must be an object")
    return problems


def qna_ops_problems(body) -> list[str]:
    """Why an Update QnAs body (an array of `{"op", "value"}`) is refused as a whole."""
    if not isinstance(body, list):
        return ["the body must be a JSON array of update operations"]
    if len(body) > QNA_LIMITS["ops"]:
        return [f"{len(body)} operations; an update takes at most {QNA_LIMITS['ops']} QnAs"]
    problems = []
    for i, item in enumerate(body):
        op = item.get("op") if isinstance(item, dict) else None
        if op not in ("add", "replace", "delete"):
            problems.append(f"[{i}]: 'op' must be add, replace or delete")
            continue
        problems += [f"[{i}] {op}: {p}" for p in qna_record_problems(item.get("value"), op)]
    return problems


class QnaProject:
    """One project: the QnAs being authored, what each deployment serves, and the jobs; one lock."""

    def __init__(self, name: str, pairs: list[dict], job_seconds: float) -> None:
        now = time.time()
        self.name, self.job_seconds = name, job_seconds
        self.qnas = {p["id"]: {"id": p["id"], "answer": p["answer"], "questions": list(p["questions"]),
                               "source": QNA_SOURCE, "metadata": {}, "dialog": {"isContextOnly": False, "prompts": []},
                               "lastUpdatedDateTime": _iso(now)} for p in pairs}
        self.deployments = {"production": {"qnas": copy.deepcopy(list(self.qnas.values())),
                                           "lastDeployedDateTime": _iso(now)}}
        self.jobs: dict[str, dict] = {}
        self.lock = threading.Lock()

    def submit(self, kind: str, work) -> str:
        """Accept a job; `work()` runs when it is due and returns the errors that fail it."""
        with self.lock:
            now = time.time()
            job_id = str(uuid.uuid4())
            self.jobs[job_id] = {"kind": kind, "work": work, "due": now + self.job_seconds, "state": {
                "jobId": job_id, "createdDateTime": _iso(now), "lastUpdatedDateTime": _iso(now),
                "expirationDateTime": _iso(now + 86400), "status": "notStarted", "errors": []}}
            self._settle(now)
            return job_id

    def job(self, kind: str, job_id: str) -> dict | None:
        with self.lock:
            now = time.time()
            self._settle(now)
            job = self.jobs.get(job_id)
            if job is None or job["kind"] != kind:
                return None
            state = job["state"]
            if state["status"] == "notStarted" and now >= job["due"] - self.job_seconds / 2:
                state.update(status="running", lastUpdatedDateTime=_iso(now))
            return dict(state)

    def settle(self) -> None:
        with self.lock:
            self._settle(time.time())

    def _settle(self, now: float) -> None:
        """Run the due jobs in the order they were accepted, as a queue of work would."""
        for job in self.jobs.values():
            if job["state"]["status"] in ("succeeded", "failed"):
                continue
            if job["due"] > now:
                return
            errors = job.pop("work")()
            job["state"].update(status="failed" if errors else "succeeded", errors=errors,
                                lastUpdatedDateTime=_iso(now))

    def update(self, ops: list[dict]):
        def work() -> list[dict]:  # all or nothing: a missing QnA fails the job and changes nothing
            qnas, now = copy.deepcopy(self.qnas), _iso(time.time())
            errors = []
            for op in ops:
                value = op["value"]
                if op["op"] == "delete":
                    if qnas.pop(value["id"], None) is None:
                        errors.append({"code": "NotFound", "message": f"QnA {value['id']} does not exist"})
                    continue
                if op["op"] == "replace" and value["id"] not in qnas:
                    errors.append({"code": "NotFound", "message": f"QnA {value['id']} does not exist"})
                    continue
                qna_id = value["id"] if op["op"] == "replace" else max(qnas, default=0) + 1  # the service numbers
                qnas[qna_id] = {"id": qna_id, "answer": value["answer"], "questions": list(value["questions"]),
                                "source": value.get("source") or "Editorial",
                                "metadata": {str(k).lower(): v.lower() for k, v in value.get("metadata", {}).items()},
                                "dialog": value.get("dialog") or {"isContextOnly": False, "prompts": []},
                                "lastUpdatedDateTime": now}
            if not errors:
                self.qnas = qnas
            return errors
        return work

    def deploy(self, deployment: str):
        def work() -> list[dict]:
            self.deployments[deployment] = {"qnas": copy.deepcopy(list(self.qnas.values())),
                                            "lastDeployedDateTime": _iso(time.time())}
            return []
        return work


def qna_app(api_key: str, data: Path = DATA, project: str = "retail-faq", job_seconds: float = 0.0,
            page_size: int = 50) -> Flask:
    """Question answering for `project`, deployed at start with devstack/data/qna.json as `production`."""
    app = Flask("qna")
    state = QnaProject(project, json.loads((data / "qna.json").read_text()), job_seconds)
    prefix = "/language/query-knowledgebases/projects/<project>"

    @app.before_request
    def check_request():
        if request.headers.get("Ocp-Apim-Subscription-Key") != api_key:
            return _language_error(401, "401", APIM_DENIED)
        if request.args.get("api-version") not in QNA_API_VERSIONS:
            return _language_error(400, "InvalidRequest", f"The api-version query parameter is missing or not "
                                   f"supported; this service speaks {', '.join(QNA_API_VERSIONS)}.")
        named = (request.view_args or {}).get("project", request.args.get("projectName"))
        if named is not None and named.lower() != project.lower():
            return _language_error(404, "ProjectNotFound", f"The project {named!r} was not found.")
        state.settle()

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(e):
        return _language_error(e.code, str(e.code), "Resource not found" if e.code == 404 else "Method not allowed")

    def accepted(path: str, job_id: str):
        response = app.response_class(status=202)
        response.headers["Operation-Location"] = f"{request.host_url.rstrip('/')}{path}/jobs/{job_id}"
        return response

    @app.get(f"{prefix}/qnas")
    def list_qnas(project: str):
        with state.lock:
            qnas = [q for q in sorted(state.qnas.values(), key=lambda q: q["id"])
                    if not request.args.get("source") or q["source"] == request.args["source"]]
        skip = max(0, request.args.get("skip", 0, type=int))
        top = request.args.get("top", len(qnas), type=int)
        size = min(page_size, request.args.get("maxpagesize", page_size, type=int))
        end = min(len(qnas), skip + top)
        body: dict = {"value": qnas[skip:min(end, skip + size)]}
        if skip + size < end:
            query = {"api-version": request.args["api-version"], "skip": skip + size, "top": end - skip - size,
                     "maxpagesize": size}
            body["nextLink"] = f"{request.base_url}?{urlencode(query)}"
        return jsonify(body)

    @app.patch(f"{prefix}/qnas")
    def update_qnas(project: str):
        body = request.get_json(silent=True)
        problems = qna_ops_problems(body)
        if problems:
            return _language_error(400, "InvalidRequest", f"Invalid update QnAs request: {problems[0]}", problems)
        assert isinstance(body, list)  # qna_ops_problems refuses anything else
        return accepted(request.path, state.submit("qnas", state.update(body)))

    @app.get(f"{prefix}/qnas/jobs/<job_id>")
    def update_status(project: str, job_id: str):
        job = state.job("qnas", job_id)
        return jsonify(job) if job else _language_error(404, "OperationNotFound", f"No job {job_id}.")

    @app.put(f"{prefix}/deployments/<deployment>")
    def deploy(project: str, deployment: str):
        return accepted(request.path, state.submit(f"deploy:{deployment}", state.deploy(deployment)))

    @app.get(f"{prefix}/deployments/<deployment>/jobs/<job_id>")
    def deploy_status(project: str, deployment: str, job_id: str):
        job = state.job(f"deploy:{deployment}", job_id)
        return jsonify(job) if job else _language_error(404, "OperationNotFound", f"No job {job_id}.")

    @app.get(f"{prefix}/deployments")
    def list_deployments(project: str):
        with state.lock:
            return jsonify({"value": [{"deploymentName": name, "lastDeployedDateTime": d["lastDeployedDateTime"]}
                                      for name, d in state.deployments.items()]})

    @app.post("/language/:query-knowledgebases")
    def query():
        missing = [p for p in ("projectName", "deploymentName") if not request.args.get(p)]
        if missing:
            return _language_error(400, "InvalidRequest", f"missing query parameter(s): {', '.join(missing)}")
        body = request.get_json(silent=True) or {}
        question = body.get("question")
        if not isinstance(question, str) or not question.strip():
            return _language_error(400, "InvalidRequest", "'question' is required")
        with state.lock:
            deployed = state.deployments.get(request.args["deploymentName"])
            pairs = copy.deepcopy(deployed["qnas"]) if deployed else None
        if pairs is None:
            return _language_error(404, "NotFound", f"The project {project!r} has no deployment "
                                   f"{request.args['deploymentName']!r}.")
        return jsonify({"answers": best_answers(pairs, question, body)})

    return app


def best_answers(pairs: list[dict], question: str, body: dict) -> list[dict]:
    """Best word overlap with any of a pair's questions, as a 0-1 confidence; the service's "no good
    match" answer (id -1) when nothing reaches the threshold."""
    asked = words(question)
    scored = []
    for pair in pairs:
        best = max(len(asked & words(q)) / max(1, len(asked | words(q))) for q in pair["questions"])
        scored.append((round(min(1.0, best * 1.6), 4), pair))
    scored.sort(key=lambda s: -s[0])
    threshold = float(body.get("confidenceScoreThreshold", 0.0))
    answers = [{"answer": p["answer"], "confidenceScore": s, "id": p["id"], "questions": p["questions"],
                "source": p["source"], "metadata": p["metadata"], "dialog": p["dialog"]}
               for s, p in scored[: int(body.get("top", 1))] if s > 0 and s >= threshold]
    return answers or [{"answer": "No good match found in KB.", "confidenceScore": 0.0, "id": -1,
                        "questions": [], "metadata": {}}]
