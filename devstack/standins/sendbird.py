"""The SendBird stand-in: the bot send API, `POST /v3/bots/<bot_userid>/send` (header Api-Token).

It keeps what the bot sent, honours `dedup_id`, refuses what the real API refuses with SendBird's
error shape (a wrong token: 400401; a missing `message`, `channel_url` or `message_type`: 400105), and
can be told to answer 429 (500910, with X-RateLimit-RetryAfter) or 500. Test hooks: `/__standin/sent`
(what the bot sent; DELETE forgets it) and `/__standin/faults`.
"""
from __future__ import annotations

import threading
import time

from flask import Flask, jsonify, request


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
