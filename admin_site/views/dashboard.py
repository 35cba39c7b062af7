"""The dashboard: charts of the turn log over a chosen time range."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@requires("viewer")
def index():
    return render_template("dashboard.html")
