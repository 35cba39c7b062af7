"""Local stand-ins for the outside SaaS the bot talks to, speaking their protocols:

- the shop API: `GET /products?q=&brand=&colour=&limit=`, `GET /orders/<id>` (header x-api-key);
- question answering, as Azure AI Language's `POST /language/:query-knowledgebases` (answered from the
  last deployment) and its authoring API (update the QnAs, deploy, the jobs), api-version 2021-10-01;
- SendBird's bot send API, `POST /v3/bots/<bot_userid>/send` (header Api-Token), which keeps what
  the bot sent, honours `dedup_id`, refuses what the real API refuses with SendBird's error shape
  (a wrong token: 400401; a missing `message`, `channel_url` or `message_type`: 400105), and can be
  told to answer 429 (500910, with X-RateLimit-RetryAfter) or 500;
- the web chat page.

Their data are the JSON files in devstack/data. Test hooks live under `/__standin/`.
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

from flask import Flask, abort, jsonify, request, send_from_directory

DATA = Path(__file__).with_name("data")
WEBCHAT = Path(__file__).with_name("webchat")
_WORD = re.compile(r"[a-z0-9']+")
STOP = {"a", "an", "the", "i", "you", "your", "my", "do", "is", "are", "can", "to", "of", "on", "in",
        "what", "how", "when", "me", "it", "for", "we", "and", "or", "there", "any", "have", "does"}


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP}


def _json_error(status: int, message: str):
    response = jsonify({"error": {"code": status, "message": message}})
    response.status_code = status
    return response


def shop_app(api_key: str, data: Path = DATA) -> Flask:
    app = Flask("shop")
    products = json.loads((data / "products.json").read_text())
    orders = {o["order_id"]: o for o in json.loads((data / "orders.json").read_text())}

    @app.before_request
    def check_key():
        if request.headers.get("x-api-key") != api_key:
            return _json_error(401, "missing or wrong x-api-key")

    @app.get("/products")
    def search():
        q, brand, colour = (request.args.get(k, "").strip().lower() for k in ("q", "brand", "colour"))
        limit = min(int(request.args.get("limit", 10)), 50)

        def matches(p: dict) -> bool:
            haystack = words(f"{p['name']} {p['category']}")
            return ((not q or words(q) <= haystack or q in p["category"])
                    and (not brand or brand == p["brand"].lower())
                    and (not colour or colour == p["colour"].lower()))
        found = [p for p in products if matches(p)]
        return jsonify({"products": found[:limit], "total": len(found)})

    @app.get("/orders/<order_id>")
    def order(order_id: str):
        found = orders.get(order_id.upper())
        return jsonify(found) if found else _json_error(404, f"no order {order_id}")

    return app


# ---- question answering ------------------------------------------------------------------------------
# Azure AI Language custom question answering, api-version 2021-10-01: the runtime query the bot sends
# and the authoring calls the admin site publishes with (REST reference "Question Answering Projects",
# view=rest-questionanswering-2021-10-01; the OpenAPI file questionanswering-authoring.json; the how-to
# "Authoring API"; "Project limits and boundaries"). The bot is answered from the last deployment;
# edits reach it only when deployed. Jobs end `job_seconds` after they were accepted, polled through
# their job URL as on Azure (its `Operation-Location`, like the how-to's example, ends in the job id and
# carries no api-version).
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


def sendbird_error(http_status: int, code: int, message: str, headers: dict | None = None):
    """SendBird's error answer: HTTP 400 or 500 (429 for rate limits) and a six-digit code."""
    return jsonify({"error": True, "code": code, "message": message}), http_status, headers or {}


# "Send a bot message" (Chat Platform API v3): these are required; bots also send files (FILE, as
# multipart/form-data), which the bot never does, so the stand-in refuses them.
BOT_SEND_REQUIRED = ("message", "channel_url", "message_type")
SERVER_ERRORS = {429: (500910, "Too many requests."), 500: (500901, "Unexpected error.")}


def sendbird_app(api_token: str) -> Flask:
    app = Flask("sendbird")
    sent: list[dict] = []
    by_dedup: dict[str, dict] = {}
    faults: list[dict] = []
    repeats: dict[str, int] = {}  # dedup_id -> sends after the first (absorbed, as SendBird does)
    lock = threading.Lock()

    @app.post("/v3/bots/<bot_userid>/send")
    def bot_send(bot_userid: str):
        if request.headers.get("Api-Token") != api_token:
            return sendbird_error(400, 400401, 'Invalid value: "Api-Token".')
        with lock:
            if faults:
                fault = faults[0]
                fault["count"] -= 1
                if fault["count"] <= 0:
                    faults.pop(0)
                code, message = SERVER_ERRORS.get(fault["status"], (500901, "Unexpected error."))
                return sendbird_error(fault["status"], code, message,
                                      {"X-RateLimit-RetryAfter": str(fault.get("retry_after", 1))})
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return sendbird_error(400, 400403, "Invalid JSON body.")
        missing = [name for name in BOT_SEND_REQUIRED if name not in body]
        if missing:
            return sendbird_error(400, 400105, f'"{missing[0]}" must be required.')
        wrong = [name for name in BOT_SEND_REQUIRED if not isinstance(body[name], str)]
        if wrong:
            return sendbird_error(400, 400100, f'"{wrong[0]}" must be a string.')
        if body["message_type"] != "MESG":
            return sendbird_error(400, 400111, f'Invalid value: "message_type" {body["message_type"]!r} '
                                                '(this stand-in takes text messages only).')
        with lock:
            dedup = body.get("dedup_id")
            if dedup and dedup in by_dedup:  # the same message again: no second message in the channel
                repeats[dedup] = repeats.get(dedup, 0) + 1
                return jsonify(by_dedup[dedup])
            message = {"message_id": len(sent) + 1, "type": "MESG", "message": body["message"],
                       "channel_url": body["channel_url"], "dedup_id": dedup,
                       "user": {"user_id": bot_userid}, "created_at": int(time.time() * 1000)}
            sent.append(message)
            if dedup:
                by_dedup[dedup] = message
        return jsonify(message)

    @app.get("/__standin/sent")
    def list_sent():
        with lock:
            return jsonify({"messages": list(sent), "repeats": dict(repeats)})

    @app.delete("/__standin/sent")
    def clear_sent():
        with lock:
            sent.clear()
            by_dedup.clear()
            repeats.clear()
        return jsonify({"messages": []})

    @app.post("/__standin/faults")
    def add_fault():
        fault = request.get_json(force=True)
        with lock:
            faults.append({"status": int(fault.get("status", 429)), "count": int(fault.get("count", 1)),
                           "retry_after": fault.get("retry_after", 1)})
        return jsonify({"faults": len(faults)})

    return app


def webchat_app(functions_url: str) -> Flask:
    app = Flask("webchat")

    @app.get("/")
    def page():
        html = (WEBCHAT / "index.html").read_text().replace("__FUNCTIONS_URL__", functions_url)
        return html, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/<path:name>")
    def asset(name: str):
        if name.endswith((".js", ".css")):
            return send_from_directory(WEBCHAT, name)
        abort(404)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the four stand-ins from one process; keys and tokens come from the app's settings."""
    import argparse
    import os

    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m devstack.standins", description=__doc__.split("\n")[0])
    for name, port in (("shop", 7101), ("qna", 7102), ("sendbird", 7103), ("webchat", 7100)):
        parser.add_argument(f"--{name}-port", type=int, default=port)
    parser.add_argument("--functions-url", default="http://127.0.0.1:7071", help="as the browser reaches it")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    args = parser.parse_args(argv)
    env = os.environ
    apps = {
        args.shop_port: shop_app(env.get("SHOP_API_KEY", "local-shop-key")),
        args.qna_port: qna_app(env.get("QNA_API_KEY", "local-qna-key"), project=env.get("QNA_PROJECT", "retail-faq"),
                               job_seconds=0.5),
        args.sendbird_port: sendbird_app(env.get("SENDBIRD_API_TOKEN", "local-sendbird-token")),
        args.webchat_port: webchat_app(args.functions_url),
    }
    servers = [make_server(args.host, port, app, threaded=True) for port, app in apps.items()]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
