"""Flask app factory for the NLU service (the contract in ../shared/design/architecture.md)."""
from __future__ import annotations

import json
import logging
import os

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .service import NluService, NotReady, Settings

MAX_TEXT_CHARS = 1000
MAX_TEXTS = 64
bp = Blueprint("nlu", __name__)
log = logging.getLogger(__name__)


class BadRequest(ValueError):
    pass


def settings_from_env(env=os.environ) -> Settings:
    return Settings(
        model_dir=env.get("NLU_MODEL_DIR") or None,
        registry=env.get("NLU_REGISTRY") or None,
        runtime=env.get("NLU_RUNTIME", "onnx"),
        cache_size=int(env.get("NLU_CACHE_SIZE", "4096")),
        poll_seconds=float(env.get("NLU_POLL_SECONDS", "5")),
        model_cache_dir=env.get("NLU_MODEL_CACHE_DIR", "/tmp/switchboard-models"),
        ready_wait_seconds=float(env.get("NLU_READY_WAIT_SECONDS", "10")),
    )


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or settings_from_env()
    if not (settings.model_dir or settings.registry):
        raise SystemExit("set NLU_MODEL_DIR (a model folder) or NLU_REGISTRY (a registry location)")
    if settings.runtime not in ("onnx", "keras"):
        raise SystemExit(f"NLU_RUNTIME={settings.runtime!r}: choose onnx or keras")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 512 * 1024
    app.json.sort_keys = False  # keeps the documented field order, and costs less
    service = NluService(settings)
    app.extensions["nlu"] = service
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    _yield_between_requests_under_gevent(app)
    service.start()
    return app


def _yield_between_requests_under_gevent(app: Flask) -> None:
    """Under gunicorn's gevent worker a CPU-bound request never blocks, so the hub can keep
    serving one keep-alive connection while others wait (a 240 ms p99 at 8 connections).
    Yielding once per request restores first-come, first-served."""
    try:
        from gevent import monkey, sleep
    except ImportError:
        return
    if monkey.is_module_patched("socket"):
        app.teardown_request(lambda _exc: sleep(0))


def _service() -> NluService:
    return current_app.extensions["nlu"]


def _error(status: int, message: str):
    return jsonify({"error": message, "status": status}), status


def _http_error(e: HTTPException):
    return _error(e.code or 500, e.description or e.name)


def _unexpected_error(e: Exception):
    log.exception("unhandled error")
    return _error(500, "internal error")


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    service = _service()
    if service.model is None:
        return jsonify({"status": "loading", "error": service.last_error}), 503
    return jsonify({"status": "ready", "model_version": service.model.version})


@bp.get("/v1/models/nlu")
def describe():
    model = _service().model
    if model is None:
        return _error(503, "no model loaded yet")
    return jsonify({**model.describe(), "cache": {"hits": _service().cache.hits, "misses": _service().cache.misses}})


@bp.post("/v1/models/nlu:parse")
def parse():
    try:
        texts, single = _read_texts()
    except BadRequest as e:
        return _error(400, str(e))
    try:
        version, results = _service().parse(texts)
    except NotReady as e:
        return _error(503, f"not ready: {e}")
    if single:
        return jsonify({"model_version": version, **results[0]})
    return jsonify({"model_version": version, "results": results})


def _read_texts() -> tuple[list[str], bool]:
    if request.mimetype != "application/json":
        raise BadRequest(f"Content-Type must be application/json, got {request.mimetype or 'none'!r}")
    try:
        body = json.loads(request.get_data(cache=False) or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"invalid JSON: {e}") from None
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
    return value
