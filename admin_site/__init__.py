"""The admin site: curate the bot's language and answers, review what customers said, rescue parked
messages, answer handed-off conversations, and watch every turn in charts.

A Flask app factory (`create_app`) with one blueprint per page group, behind gunicorn
(`admin_site.wsgi:app`). It knows the function app through the shared package alone (`switchboard`:
the turn-log document, the Cosmos DB containers, the branch manifest with every branch's replies and
default routes), and models through `nlu`; it imports nothing of `function_app/`.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
from pathlib import Path

from flask import Flask, Response, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_site import auth, navigation, security
from admin_site.services import AdminServices, build
from admin_site.settings import Settings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
# The OpenAPI 3 document of the JSON endpoints (not the HTML pages), served at /openapi.json to anyone:
# it describes the endpoints, not their data. tests/contracts checks it against the URL map and fuzzes it.
OPENAPI = (Path(__file__).resolve().parent / "openapi.json").read_bytes()
# the demo bot `python -m admin_site seed-demo` gives an empty catalogue
DEMO_DATA, DEMO_QNA = ROOT / "training_jobs" / "data" / "demo.yml", ROOT / "devstack" / "data" / "qna.json"
PAGES = ("dashboard", "conversations", "review", "inbox", "intents", "entities", "qna", "data", "models", "poison",
         "audit", "users")  # one blueprint each, in admin_site/views/


def utc(epoch: float | None, ms: bool = False) -> str:
    """A time for the pages: `2026-12-02 17:05:09` (UTC), from epoch seconds (or milliseconds)."""
    if epoch is None:
        return ""
    seconds = epoch / 1000.0 if ms else epoch
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def create_app(config: Settings | None = None, services: AdminServices | None = None) -> Flask:
    config = config or (services.settings if services else Settings.from_env())
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_upload_bytes,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.secure_cookies, SESSION_COOKIE_NAME="switchboard_admin",
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8))
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    app.extensions["switchboard"] = services = services or build(config)
    if services.accounts.count() == 0:
        log.warning("no user yet: create the first admin with `python -m admin_site create-user NAME --role admin`")
    security.init_app(app)
    app.before_request(auth.load_user)
    app.context_processor(lambda: {"user": auth.current_user()})
    navigation.init_app(app, {"inbox": services.conversations.handed_off_count, "poison": services.queues.total_parked})
    app.add_template_filter(utc)

    app.register_blueprint(auth.bp)
    for name in PAGES:
        app.register_blueprint(importlib.import_module(f"admin_site.views.{name}").bp)

    # what browsers ask for where nothing names an icon (a JSON answer): redirected to the static file
    app.add_url_rule("/favicon.ico", "static", defaults={"filename": "favicon.svg"}, alias=True)

    # Liveness is the process alone: a Cosmos DB blip must not get the replica restarted. Readiness
    # (/healthz, the container's health check and the readiness probe) reads the users container.
    @app.get("/livez")
    @auth.public
    def livez():
        return jsonify({"status": "ok"})

    @app.get("/healthz")
    @auth.public
    def healthz():
        try:
            users = app.extensions["switchboard"].accounts.count()
        except Exception as e:  # any store failure: not ready (503), and the log names it
            log.warning("readiness: the users container does not answer (%s)", type(e).__name__)
            return jsonify({"status": "unavailable", "reason": "the users container does not answer"}), 503
        return jsonify({"status": "ok", "users": users})

    @app.get("/openapi.json")
    @auth.public
    def openapi():
        return Response(OPENAPI, 200, mimetype="application/json")

    return app
