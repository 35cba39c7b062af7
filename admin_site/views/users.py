"""Users: create, change role, disable (admins only)."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/")
@requires("admin")
def index():
    return render_template("placeholder.html", title="Users")
