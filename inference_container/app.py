"""Flask app factory for the NLU service (its contract: docs/nlu.md, "Inference service", and openapi.json)."""
from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind
from werkzeug.exceptions import HTTPException

from .service import NluService, NotReady, Settings

MAX_TEXT_CHARS = 1000
MAX_TEXTS = 64
bp = Blueprint("nlu", __name__)
log = logging.getLogger(__name__)
# The service's OpenAPI 3 document, served at /openapi.json; tests/contracts checks it against the
# routes below and fuzzes the running service with it.
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
OPENAPI = OPENAPI_FILE.read_bytes()


# The credential: every route but these asks for `Authorization: Bearer <key>`, a key of NLU_API_KEYS
# (docs/nlu.md, "The credential"). These are what a load balancer, a health probe and a client
# generator call without one.
KEYS_SETTING = "NLU_API_KEYS"
MIN_KEY_CHARS = 32
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})
CHALLENGE = [("WWW-Authenticate", "Bearer")]


class BadRequest(ValueError):
    pass


def read_api_keys(value: str | None) -> tuple[str, ...]:
    """NLU_API_KEYS as keys: comma-separated, blanks around each ignored."""
    return tuple(key for key in (part.strip() for part in (value or "").split(",")) if key)


def api_keys_problem(keys: Sequence[str]) -> str | None:
    """Why these keys cannot guard the service (None: they can), naming the setting, never a key."""
    if not keys:
        return (f"set {KEYS_SETTING}: one or more keys of {MIN_KEY_CHARS}+ random characters, comma-separated, "
                "that callers send as 'Authorization: Bearer <key>'")
    short = [str(i) for i, key in enumerate(keys, 1) if len(key) < MIN_KEY_CHARS]
    if short:
        return (f"{KEYS_SETTING}: key {', '.join(short)} of {len(keys)} is shorter than {MIN_KEY_CHARS} characters; "
                "use random keys (python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return None


def credential_problem(authorization: str | None, keys: Sequence[str]) -> str | None:
    """Why a request's Authorization header is refused (None: it carries one of the keys). Every key is
    compared, each in constant time, so the answer's timing says nothing of which one or how close."""
    if not authorization:
        return "no credential: send the header 'Authorization: Bearer <key>'"
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return "the Authorization header must be 'Bearer <key>'"
    # a WSGI header is latin-1 text of the bytes sent: back to those bytes (compare_digest takes ASCII str only)
    sent = credential.encode("latin-1", "replace")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(sent, key.encode())
    return None if matched else "the credential is not valid"


def settings_from_env(env=os.environ) -> Settings:
    return Settings(
        model_dir=env.get("NLU_MODEL_DIR") or None,
        registry=env.get("NLU_REGISTRY") or None,
        runtime=env.get("NLU_RUNTIME", "onnx"),
        cache_size=int(env.get("NLU_CACHE_SIZE", "4096")),
        poll_seconds=float(env.get("NLU_POLL_SECONDS", "5")),
        model_cache_dir=env.get("NLU_MODEL_CACHE_DIR", "/tmp/switchboard-models"),
        ready_wait_seconds=float(env.get("NLU_READY_WAIT_SECONDS", "10")),
        api_keys=read_api_keys(env.get(KEYS_SETTING)),
    )


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or settings_from_env()
    if not (settings.model_dir or settings.registry):
        raise SystemExit("set NLU_MODEL_DIR (a model folder) or NLU_REGISTRY (a registry location)")
    if settings.runtime not in ("onnx", "keras"):
        raise SystemExit(f"NLU_RUNTIME={settings.runtime!r}: choose onnx or keras")
    if problem := api_keys_problem(settings.api_keys):
        raise SystemExit(problem)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 512 * 1024
    provider = DefaultJSONProvider(app)
    provider.sort_keys = False  # keeps the documented field order, and costs less
    app.json = provider
    service = NluService(settings)
    app.extensions["nlu"] = service
    app.register_blueprint(bp)
    keys = tuple(settings.api_keys)
    app.before_request(lambda: _require_credential(keys))  # on the app: every route, and any path
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    after = _yield_under_gevent()
    if after:
        app.teardown_request(lambda _exc: after())
    app.wsgi_app = ParseFastPath(app.wsgi_app, service, app.config["MAX_CONTENT_LENGTH"], keys, after)
    service.start()
    return app


def _yield_under_gevent():
    """Under gunicorn's gevent worker a CPU-bound request never blocks, so the hub can keep
    serving one keep-alive connection while others wait (a 240 ms p99 at 8 connections).
    Yielding once per request restores first-come, first-served: the hook returned here."""
    try:
        from gevent import monkey, sleep
    except ImportError:
        return None
    return (lambda: sleep(0)) if monkey.is_module_patched("socket") else None


def _service() -> NluService:
    return current_app.extensions["nlu"]


def _problem(status: int, message: str) -> dict:
    return {"error": message, "status": status}


def _error(status: int, message: str):
    return jsonify(_problem(status, message)), status


def _http_error(e: HTTPException):
    return _error(e.code or 500, e.description or e.name)


def _unexpected_error(e: Exception):
    log.exception("unhandled error")
    return _error(500, "internal error")


def refused(method: str, path: str, problem: str) -> tuple[int, dict]:
    """A request without a valid credential: logged (the reason, never the header), answered 401."""
    log.warning("refused %s %s: %s", method, path, problem)
    return 401, _problem(401, problem)


def _require_credential(keys: tuple[str, ...]):
    if request.path in OPEN_PATHS:
        return None
    problem = credential_problem(request.headers.get("Authorization"), keys)
    if problem is None:
        return None
    status, body = refused(request.method, request.path, problem)
    return jsonify(body), status, CHALLENGE


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    service = _service()
    if service.model is None:
        return jsonify({"status": "loading", "error": service.last_error}), 503
    body = {"status": "ready", "model_version": service.model.version}
    if service.last_error:
        body["error"] = service.last_error
    return jsonify(body)


@bp.get("/openapi.json")
def openapi():
    return Response(OPENAPI, 200, mimetype="application/json")


@bp.get("/v1/models/nlu")
def describe():
    model = _service().model
    if model is None:
        return _error(503, "no model loaded yet")
    return jsonify({**model.describe(), "cache": {"hits": _service().cache.hits, "misses": _service().cache.misses}})


@bp.post("/v1/models/nlu:parse")
def parse():
    status, body = answer_parse(_service(), request.mimetype, request.get_data(cache=False))
    return Response(_dump(body), status, mimetype="application/json")


def answer_parse(service: NluService, mimetype: str, raw: bytes) -> tuple[int, dict]:
    """The parse endpoint as plain data in, (status, JSON body) out: the Flask view and the
    WSGI fast path below both answer through it."""
    try:
        texts, single = _read_texts(mimetype, raw)
        version, results = service.parse(texts)
    except BadRequest as e:
        return 400, _problem(400, str(e))
    except NotReady as e:
        return 503, _problem(503, f"not ready: {e}")
    if single:
        return 200, {"model_version": version, **results[0]}
    return 200, {"model_version": version, "results": results}


class ParseFastPath:
    """WSGI middleware answering `POST /v1/models/nlu:parse` without Flask's request and
    response machinery, which costs more than the model itself at batch size 1
    (bench/serving.py). Every other request, and a body of unknown or excessive length, goes
    on to Flask."""

    def __init__(self, wsgi_app, service: NluService, max_body: int, keys: Sequence[str], after=None) -> None:
        self.wsgi_app, self.service, self.max_body, self.after = wsgi_app, service, max_body, after
        self.keys = tuple(keys)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/v1/models/nlu:parse" or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if not 0 <= length <= self.max_body:  # chunked, unknown or too long: Flask's checks apply
            return self.wsgi_app(environ, start_response)
        # Flask's instrumentation starts its span in Flask's request handling, which this path skips:
        # the server span is started here, in the caller's trace (traceparent), when spans go anywhere
        with _tracer.start_as_current_span("POST /v1/models/nlu:parse", context=extract(environ, getter=ENVIRON),
                                           kind=SpanKind.SERVER, attributes=PARSE_ATTRIBUTES) as span:
            headers = []
            try:
                if problem := credential_problem(environ.get("HTTP_AUTHORIZATION"), self.keys):
                    status, body = refused("POST", "/v1/models/nlu:parse", problem)
                    headers = CHALLENGE
                else:
                    mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
                    status, body = answer_parse(self.service, mimetype, environ["wsgi.input"].read(length))
                out = _dump(body)
            except Exception:
                log.exception("unhandled error")
                status, out = 500, _dump(_problem(500, "internal error"))
            span.set_attribute("http.status_code", status)
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(out))), *headers])
        if self.after:
            self.after()
        return [out]


class _EnvironGetter(Getter):
    """W3C trace context from a WSGI environ (`traceparent` arrives as HTTP_TRACEPARENT)."""

    def get(self, carrier: dict, key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if value else None

    def keys(self, carrier: dict) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


ENVIRON = _EnvironGetter()
PARSE_ATTRIBUTES = {"http.method": "POST", "http.route": "/v1/models/nlu:parse", "http.target": "/v1/models/nlu:parse"}
_tracer = trace.get_tracer("switchboard.nlu")


def _dump(body: dict) -> bytes:
    """The parse answer's bytes, the same from both paths."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _read_texts(mimetype: str, raw: bytes) -> tuple[list[str], bool]:
    if mimetype != "application/json":
        raise BadRequest(f"Content-Type must be application/json, got {mimetype or 'none'!r}")
    try:
        body = json.loads(raw or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"invalid JSON: {e}") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise BadRequest("invalid JSON: nested too deep") from None
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object: {"text": "..."} or {"texts": [...]}')
    if ("text" in body) == ("texts" in body):
        raise BadRequest('give exactly one of "text" (a string) or "texts" (a list of strings)')
    if "text" in body:
        return [_check_text(body["text"], "text")], True
    texts = body["texts"]
    if not isinstance(texts, list) or not texts:
        raise BadRequest('"texts" must be a non-empty list of strings')
    if len(texts) > MAX_TEXTS:
        raise BadRequest(f'"texts" has {len(texts)} items; the limit is {MAX_TEXTS}')
    return [_check_text(t, f"texts[{i}]") for i, t in enumerate(texts)], False


def _check_text(value, name: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f'"{name}" must be a string, got {type(value).__name__}')
    if not value.strip():
        raise BadRequest(f'"{name}" is empty')
    if len(value) > MAX_TEXT_CHARS:
        raise BadRequest(f'"{name}" has {len(value)} characters; the limit is {MAX_TEXT_CHARS}')
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): JSON allows the escape, Unicode has no such character
        raise BadRequest(f'"{name}" is not valid Unicode: it has a lone surrogate') from None
    return value
