"""The agent inbox: conversations handed off to a person, newest first, each with its transcript, a
reply box and Release.

The site never talks to a channel itself: a reply goes to the function app's agent endpoint, which
queues it for the bot's own `deliver` (same channel adapters, deduplicated on its turn id, logged as
an agent turn); Release is the function app's release endpoint. The reply box carries a message id
made when the page is drawn, so submitting it twice sends one message. Viewers may read; agents,
editors and admins reply and release.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from werkzeug.routing import BuildError

from admin_site.auth import requires
from admin_site.functions_api import FunctionsError
from admin_site.services import services
from switchboard.envelope import MAX_TEXT_CHARS
from switchboard.turns import TurnRecord

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
LIST_LIMIT = 200  # handed-off conversations shown
TRANSCRIPT_LIMIT = 200  # the latest turns of a conversation shown
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def when(epoch_ms: float | None) -> str:
    """A time for the page, in UTC."""
    if not epoch_ms:
        return ""
    return dt.datetime.fromtimestamp(epoch_ms / 1000.0, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def transcript_row(turn: TurnRecord) -> dict[str, Any]:
    """One turn of the log as the transcript shows it: what the customer said (an agent turn has no
    customer text), what was answered and by whom (the bot's branch, or "agent")."""
    return {"id": turn.id, "received_at": turn.received_at or 0, "updated_at": turn.updated_at or 0,
            "when": when(turn.received_at), "customer": turn.text, "reply": turn.reply or "",
            "by": "agent" if turn.by_agent else "bot", "branch": turn.branch or "", "status": turn.status,
            "error": turn.error or ""}


def reply_problems(text: str, message_id: str) -> list[str]:
    problems = []
    if not text.strip():
        problems.append("Write a message first.")
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(f"The message is {len(text)} characters; the limit is {MAX_TEXT_CHARS}.")
    if not _MESSAGE_ID.match(message_id):
        problems.append("The form is damaged (no message id): reload the page and write the message again.")
    return problems


def _conversation(conversation_id: str) -> dict[str, Any]:
    found = services().conversations.get(conversation_id)
    if found is None:
        abort(404, f"There is no conversation {conversation_id}.")
    return found


def _turns(conversation_id: str) -> list[dict[str, Any]]:
    """The latest turns, oldest first."""
    return [transcript_row(t) for t in services().turns.latest(conversation_id, TRANSCRIPT_LIMIT)]


def _cursor(turns: list[dict[str, Any]], after: float = 0) -> float:
    return max([after, *(t["updated_at"] for t in turns)])


@bp.get("/")
@requires("viewer")
def index():
    found = services().conversations.handed_off(LIST_LIMIT)
    rows = [{"id": c["id"], "channel": c.get("channel", ""), "user_id": c.get("user_id", ""),
             "updated": when(c.get("updated_at")), "messages": c.get("message_count", 0)} for c in found]
    return render_template("inbox/index.html", conversations=rows, limit=LIST_LIMIT)


def _page(conversation_id: str, *, text: str = "", message_id: str | None = None, problems: Sequence[str] = (),
          error: str = "", status: int = 200):
    conversation = _conversation(conversation_id)
    turns = _turns(conversation_id)
    page = render_template("inbox/conversation.html", conversation=conversation, turns=turns,
                           cursor=_cursor(turns), text=text, message_id=message_id or uuid.uuid4().hex,
                           problems=problems, error=error, can_act=g.user.can("agent"), max_chars=MAX_TEXT_CHARS,
                           conversations_page=_conversations_page(conversation_id))
    return page, status


def _conversations_page(conversation_id: str) -> str | None:
    """The Conversations page's transcript of this conversation, if that page has one."""
    try:
        return url_for("conversations.transcript", conversation_id=conversation_id)
    except BuildError:  # no such page (yet)
        return None


@bp.get("/<conversation_id>")
@requires("viewer")
def conversation(conversation_id: str):
    return _page(conversation_id)


@bp.get("/<conversation_id>/turns")
@requires("viewer")
def turns(conversation_id: str):
    """The turns logged after `after` (the transcript's cursor) and whether an agent still has the
    conversation: what the page polls to show new customer messages."""
    try:
        after = float(request.args.get("after") or 0)
        if not math.isfinite(after):  # NaN or infinity: no cursor, and no valid JSON in the answer
            raise ValueError(after)
    except ValueError:
        return jsonify({"error": "'after' must be a number (the cursor of the previous answer)"}), 400
    found = services().conversations.get(conversation_id)
    if found is None:
        return jsonify({"error": f"no conversation {conversation_id}"}), 404
    new = [transcript_row(t) for t in services().turns.logged_after(conversation_id, after, TRANSCRIPT_LIMIT)]
    return jsonify({"turns": new, "cursor": _cursor(new, after), "handoff": bool(found.get("handoff"))})


@bp.post("/<conversation_id>/reply")
@requires("agent")
def reply(conversation_id: str):
    text = request.form.get("text") or ""
    message_id = request.form.get("message_id") or ""
    problems = reply_problems(text, message_id)
    if problems:
        kept = message_id if _MESSAGE_ID.match(message_id) else None
        return _page(conversation_id, text=text, message_id=kept, problems=problems, status=400)
    _conversation(conversation_id)
    try:
        sent = services().functions.send_message(conversation_id, message_id, text, g.user.name)
    except FunctionsError as e:
        problem = f"Not sent: {e.reason}. Sending the same message again sends it once."
        return _page(conversation_id, text=text, message_id=message_id, problems=[problem], status=502)
    turn_id = sent.get("turn_id") or f"agent:{conversation_id}:{message_id}"
    services().audit.record(g.user.name, "inbox.reply", conversation_id,
                            {"turn_id": turn_id, "message_id": message_id, "text": text})
    flash("Sent. It appears in the transcript once it has been delivered.")
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/<conversation_id>/release")
@requires("agent")
def release(conversation_id: str):
    _conversation(conversation_id)
    try:
        answer = services().functions.release(conversation_id)
    except FunctionsError as e:
        return _page(conversation_id, error=f"Not released: {e.reason}.", status=502)
    services().audit.record(g.user.name, "inbox.release", conversation_id, {"changed": answer.get("changed")})
    flash(f"Released: the bot answers conversation {conversation_id} again.")
    return redirect(url_for("inbox.index"))
