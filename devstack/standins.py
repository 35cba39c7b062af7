"""Local stand-ins for the outside SaaS the bot talks to, speaking their protocols:

- the shop API: `GET /products?q=&brand=&colour=&limit=`, `GET /orders/<id>` (header x-api-key);
- question answering, as Azure AI Language's `POST /language/:query-knowledgebases`;
- SendBird's bot send API, `POST /v3/bots/<bot_userid>/send` (header Api-Token), which keeps what
  the bot sent, honours `dedup_id`, refuses what the real API refuses with SendBird's error shape
  (a wrong token: 400401; a missing `message`, `channel_url` or `message_type`: 400105), and can be
  told to answer 429 (500910, with X-RateLimit-RetryAfter) or 500;
- the web chat page.

Their data are the JSON files in devstack/data. Test hooks live under `/__standin/`.
"""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

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


def qna_app(api_key: str, data: Path = DATA) -> Flask:
    app = Flask("qna")
    pairs = json.loads((data / "qna.json").read_text())

    @app.post("/language/:query-knowledgebases")
    def query():
        if request.headers.get("Ocp-Apim-Subscription-Key") != api_key:
            return _json_error(401, "Access denied due to invalid subscription key.")
        missing = [p for p in ("projectName", "deploymentName", "api-version") if not request.args.get(p)]
        if missing:
            return _json_error(400, f"missing query parameter(s): {', '.join(missing)}")
        body = request.get_json(silent=True) or {}
        question = body.get("question")
        if not isinstance(question, str) or not question.strip():
            return _json_error(400, "'question' is required")
        asked = words(question)
        scored = []
        for pair in pairs:  # best overlap with any of the pair's questions, as a 0-1 confidence
            best = max(len(asked & words(q)) / max(1, len(asked | words(q))) for q in pair["questions"])
            scored.append((round(min(1.0, best * 1.6), 4), pair))
        scored.sort(key=lambda s: -s[0])
        threshold = float(body.get("confidenceScoreThreshold", 0.0))
        answers = [{"answer": p["answer"], "confidenceScore": s, "id": p["id"], "questions": p["questions"],
                    "source": "devstack/data/qna.json", "metadata": {}}
                   for s, p in scored[: int(body.get("top", 1))] if s > 0 and s >= threshold]
        if not answers:
            answers = [{"answer": "No good match found in KB.", "confidenceScore": 0.0, "id": -1,
                        "questions": [], "metadata": {}}]
        return jsonify({"answers": answers})

    return app


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
        args.qna_port: qna_app(env.get("QNA_API_KEY", "local-qna-key")),
        args.sendbird_port: sendbird_app(env.get("SENDBIRD_API_TOKEN", "local-sendbird-token")),
        args.webchat_port: webchat_app(args.functions_url),
    }
    servers = [make_server(args.host, port, app, threaded=True) for port, app in apps.items()]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
