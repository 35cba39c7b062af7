"""The review queue: out-of-scope, low-confidence and fallback turns, relabelled in one click."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Review")
