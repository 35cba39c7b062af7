"""Intents: list, search, create, rename, delete, examples with annotations, route and replies."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("intents", __name__, url_prefix="/intents")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Intents")
