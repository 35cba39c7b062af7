"""The audit log: who changed what and when."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Audit")
