"""Import and export of the catalogue: the project's data-set format (YAML) and text,intent CSV."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("data", __name__, url_prefix="/data")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Data")
