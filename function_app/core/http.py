"""JSON answers for the HTTP functions: every refusal is a 4xx with a reason, never a stack trace."""
from __future__ import annotations

import json
from typing import Any

import azure.functions as func

MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, ensure_ascii=False), status_code=status, headers=headers,
                             mimetype="application/json", charset="utf-8")


def error(status: int, reason: str, headers: dict[str, str] | None = None, **fields: Any) -> func.HttpResponse:
    """`{"error": reason}`, plus `fields` (e.g. `retry_after`, which a page on another origin can read
    where it cannot read the Retry-After header)."""
    return json_response(status, {"error": reason, **fields}, headers)


def raw_body(req: func.HttpRequest, limit: int = MAX_BODY_BYTES) -> bytes:
    body = req.get_body() or b""
    if len(body) > limit:
        raise BadRequest(413, f"body is {len(body)} bytes; the limit is {limit}")
    return body


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise BadRequest(400, f"body is not valid JSON: {type(e).__name__}: {str(e)[:200]}") from e
    if not isinstance(data, dict):
        raise BadRequest(400, "body must be a JSON object")
    return data
