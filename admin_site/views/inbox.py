"""The agent inbox: conversations handed off to a person, answered from here."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


@bp.get("/")
@requires("agent")
def index():
    return render_template("placeholder.html", title="Inbox")
