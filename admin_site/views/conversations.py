"""Conversations: the turn log, newest first and filtered; one conversation's transcript.

Both pages read the function app's turn log through `admin_site.turnlog.TurnLog`: the log is a
single TOP query per page (paged by a `received_at` cursor), the transcript a query within one
partition.
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from admin_site import turnlog
from admin_site.auth import requires
from admin_site.services import services
from switchboard import turns
from switchboard.envelope import valid_id

bp = Blueprint("conversations", __name__, url_prefix="/conversations")


def _cursor(name: str) -> tuple[turnlog.Cursor | None, list[str]]:
    raw = request.args.get(name) or ""
    if not raw:
        return None, []
    try:
        return turnlog.Cursor.decode(raw), []
    except ValueError as e:
        return None, [str(e)]


def _branches() -> list[str]:
    """The function app's branches (and the agent's), the branch filter's choices."""
    return sorted(set(services().branches.templates) | {turns.AGENT})


@bp.get("/")
@requires("viewer")
def index():
    svc = services()
    filters, problems = turnlog.parse_filters(request.args)
    cursor, cursor_problems = _cursor("before")
    problems += cursor_problems
    page = turnlog.Page([], None)
    if not problems:
        page = svc.turns.page(filters, cursor)
    choices = {"channels": turns.CHANNELS, "statuses": turns.STATUSES, "branches": _branches(),
               "intents": [i["name"] for i in svc.catalogue.all("intent")]}
    body = render_template("conversations/index.html", turns=[turnlog.shape(d) for d in page.turns],
                           older=page.next.encode() if page.next else None, paged=cursor is not None,
                           filters=filters.text, args=filters.args(), problems=problems, choices=choices)
    return body, 400 if problems else 200


@bp.get("/<conversation_id>")
@requires("viewer")
def transcript(conversation_id: str):
    if not valid_id(conversation_id):
        abort(404, "There is no such conversation.")
    svc = services()
    cursor, problems = _cursor("after")
    if problems:
        abort(400, problems[0])
    page = svc.turns.transcript(conversation_id, cursor)
    conversation = svc.conversations.get(conversation_id)
    if not page.turns and conversation is None and cursor is None:
        abort(404, f"There is no conversation {conversation_id!r} in the turn log.")
    threshold = svc.settings.nlu_min_confidence
    return render_template("conversations/transcript.html", conversation_id=conversation_id,
                           conversation=conversation, turns=[turnlog.shape(d, threshold) for d in page.turns],
                           later=page.next.encode() if page.next else None, paged=cursor is not None)
