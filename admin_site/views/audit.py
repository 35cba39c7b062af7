"""The audit log: who changed what and when, newest first, filterable by who and by what."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from admin_site.auth import requires
from admin_site.services import services

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@requires("viewer")
def index():
    actor, action = request.args.get("actor") or None, request.args.get("action") or None
    entries = services().audit.recent(200, actor=actor, action=action)
    return render_template("audit/index.html", entries=entries, actor=actor or "", action=action or "")
