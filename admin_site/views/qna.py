"""QnA pairs with alternative questions; publish to question answering."""
from __future__ import annotations

from flask import Blueprint, render_template

from admin_site.auth import requires

bp = Blueprint("qna", __name__, url_prefix="/qna")


@bp.get("/")
@requires("viewer")
def index():
    return render_template("placeholder.html", title="Qna")
