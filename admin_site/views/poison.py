"""Poison queues: parked messages, re-queued or discarded."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("poison", __name__, url_prefix="/poison")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Poison")
