"""Login, logout, and the role every route requires, checked on the server.

A session cookie (Flask's, signed; HttpOnly, SameSite=Lax, Secure over HTTPS) names the user and
the `session_epoch` it was issued in. Every request loads the user again: a disabled user, or one
whose role or password changed since, or who logged out (on any device), is logged out there and
then. `requires(role)` guards every view; a route without it fails the test that walks the URL map.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from admin_site.accounts import ROLES, User
from admin_site.services import services

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
PUBLIC = "_public"  # marks the few views anyone may reach (login, health, static)
REQUIRED_ROLE = "required_role"  # on every other view: the role `requires` gave it


def public(view: Callable) -> Callable:
    setattr(view, PUBLIC, True)
    return view


def requires(role: str) -> Callable[[Callable], Callable]:
    """The view needs a logged-in user whose role is at least `role` (403 otherwise)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if g.user is None:
                if request.path.startswith("/api/"):
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not g.user.can(role):
                abort(403, f"this needs the {role} role; you are {g.user.role}")
            return view(*args, **kwargs)

        setattr(guarded, REQUIRED_ROLE, role)
        return guarded

    return decorate


def load_user() -> None:
    """Before every request: the session's user, if it is still valid."""
    g.user = None
    name = session.get("user")
    if not name:
        return
    user = services().accounts.get(name)
    if user is None or user.disabled or user.session_epoch != session.get("epoch"):
        session.clear()
        return
    g.user = user


def _client_address() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "GET":
        return render_template("login.html", name="", next=request.args.get("next", ""))
    svc = services()
    name = (request.form.get("name") or "").strip().lower()
    keys = [f"account:{name}", f"address:{_client_address()}"]
    limit, window = svc.settings.login_limit, svc.settings.login_window_seconds
    now = time.time()
    for key in keys:
        failures = svc.accounts.failures(key, window, now)
        if len(failures) >= limit:
            retry = max(1, math.ceil(window - (now - min(failures))))
            log.warning("login throttled for %s", key.split(":")[0])
            body = render_template("login.html", name=name, next=request.form.get("next", ""),
                                   error=f"Too many failed logins. Try again in {retry} seconds.")
            return body, 429, {"Retry-After": str(retry)}
    user = svc.accounts.check_password(name, request.form.get("password") or "")
    if user is None:
        for key in keys:
            svc.accounts.record_failure(key, window, now)
        return render_template("login.html", name=name, next=request.form.get("next", ""),
                               error="Wrong user name or password, or the account is disabled."), 401
    session.clear()
    session.permanent = True
    session["user"], session["epoch"] = user.name, user.session_epoch
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):  # only this site's own pages
        target = url_for("dashboard.index")
    return redirect(target)


@bp.post("/logout")
@public
def logout():
    """Ends the user's sessions on the server too (a new epoch), not only this cookie: a response to a
    request still in flight (a chart's data, the favicon) would otherwise set the old cookie again."""
    if g.user is not None:
        try:
            services().accounts.update(g.user.name)
        except KeyError:  # removed meanwhile: nothing to end
            pass
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


def current_user() -> User | None:
    return g.get("user")
