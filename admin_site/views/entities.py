"""Entities: synonyms and lookup values."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("entities", __name__, url_prefix="/entities")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Entities")
