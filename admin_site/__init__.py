"""The admin site: curate the bot's language and answers, review what customers said, rescue parked
messages, answer handed-off conversations, and watch every turn in charts.

A Flask app factory (`create_app`) with one blueprint per page group, behind gunicorn
(`admin_site.wsgi:app`). It imports the function app's pure modules (`core`, `branches`: the branches
and their reply templates, the catalogue's rules) and the shared `nlu` package, so `function_app/`
must be on its PYTHONPATH, as it is in the tests, `make run` and the Dockerfile.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_site import auth, navigation, security
from admin_site.config import Config
from admin_site.services import Services, build

log = logging.getLogger(__name__)
PAGES = ("dashboard", "conversations", "review", "inbox", "intents", "entities", "qna", "data", "poison", "audit",
         "users")  # one blueprint each, in admin_site/views/


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    config = config or (services.config if services else Config.from_env())
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_upload_bytes,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.secure_cookies, SESSION_COOKIE_NAME="switchboard_admin",
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8))
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    app.extensions["switchboard"] = services or build(config)
    security.init_app(app)
    app.before_request(auth.load_user)
    app.context_processor(lambda: {"user": auth.current_user(), "nav_items": navigation.nav_items})

    app.register_blueprint(auth.bp)
    for name in PAGES:
        app.register_blueprint(importlib.import_module(f"admin_site.views.{name}").bp)

    @app.get("/healthz")
    @auth.public
    def healthz():
        return jsonify({"status": "ok", "users": app.extensions["switchboard"].accounts.count()})

    return app
