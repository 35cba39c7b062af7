"""Conversations: the turn log, filtered; one conversation's transcript."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("conversations", __name__, url_prefix="/conversations")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Conversations")
