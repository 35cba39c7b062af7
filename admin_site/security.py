"""What every response of the admin site gets: security headers (a Content-Security-Policy that allows
no inline script), CSRF protection of every state-changing request (forms and fetch calls alike,
Flask-WTF), and error pages that say what went wrong without a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

log = logging.getLogger(__name__)
csrf = CSRFProtect()
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def init_app(app: Flask) -> None:
    app.config.update(WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session
                      WTF_CSRF_HEADERS=["X-CSRFToken"])
    csrf.init_app(app)
    app.after_request(_headers)
    app.register_error_handler(CSRFError, lambda e: _error(400, "The form's security token is missing or "
                                                                "expired: reload the page and try again."))
    app.register_error_handler(RequestEntityTooLarge, lambda e: _error(413, "The upload is larger than the "
                                                                       f"{_megabytes(app)} limit."))
    app.register_error_handler(HTTPException, lambda e: _error(e.code or 500, e.description or e.name))
    app.register_error_handler(Exception, _unexpected)


def _megabytes(app: Flask) -> str:
    limit = app.config["MAX_CONTENT_LENGTH"]
    return f"{limit / 1048576:g} MB"


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _error(status: int, message: str):
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify({"error": message, "status": status}), status
    return render_template("error.html", status=status, message=message), status


def _unexpected(e: Exception):
    if not isinstance(e, HTTPException):
        log.exception("unhandled error on %s %s", request.method, request.path)
        e = InternalServerError()  # its generic text: the page shows nothing of the error itself
    return _error(e.code or 500, e.description or e.name)
