"""Poison queues: the messages the pipeline gave up on, each with its envelope and what the turn log
says of its turn; re-queued onto the queue they came from (the pipeline is idempotent on turn_id, so
the turn is then answered once) or discarded. Viewers look; editors and admins act; every action is
in the audit log, a discard with the message's whole text (it is gone from the queue after)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for

from admin_site.auth import requires
from admin_site.queues import MAX_PEEK, MessageGone, ParkedMessage, QueueError, is_poison_queue, source_queue
from admin_site.services import services
from switchboard.envelope import Envelope
from switchboard.errors import PermanentError
from switchboard.turns import TurnRecord

bp = Blueprint("poison", __name__, url_prefix="/poison")
AUDIT_TEXT_LIMIT = 20_000  # characters of a discarded message kept in the audit log


def describe(message: ParkedMessage) -> dict[str, Any]:
    """A parked message as the page shows it: its envelope pretty-printed when it is JSON, the
    envelope's ids when it is a valid envelope (else why it is not one)."""
    try:
        pretty = json.dumps(json.loads(message.text), indent=2, ensure_ascii=False, sort_keys=True)
    except (ValueError, RecursionError):
        pretty = message.text
    try:
        envelope, problem = Envelope.from_json(message.text), ""
    except PermanentError as e:
        envelope, problem = None, str(e)
    return {"id": message.id, "text": pretty, "dequeue_count": message.dequeue_count,
            "inserted": _when(message.inserted_at), "envelope": envelope, "problem": problem}


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _turn(envelope: Envelope | None) -> TurnRecord | None:
    if envelope is None:
        return None
    return services().turns.get(envelope.conversation_id, envelope.turn_id)


@bp.get("/")
@requires("viewer")
def index():
    queues = services().queues
    try:
        found = queues.poison_queues()
        sections = []
        for queue in found:
            messages = [describe(m) for m in queues.peek(queue.name)] if queue.count else []
            for message in messages:
                message["turn"] = _turn(message["envelope"])
            sections.append({"name": queue.name, "source": queue.source, "count": queue.count, "messages": messages})
    except QueueError as e:
        return render_template("poison/index.html", queues=[], error=str(e), peek=MAX_PEEK), 502
    return render_template("poison/index.html", queues=sections, error="", peek=MAX_PEEK,
                           can_act=g.user.can("editor"))


def _checked(queue: str) -> str:
    if not is_poison_queue(queue):
        abort(404, f"{queue} is not a poison queue.")
    return queue


def _parked(queue: str, message_id: str) -> ParkedMessage | None:
    return next((m for m in services().queues.peek(queue) if m.id == message_id), None)


@bp.post("/<queue>/<message_id>/requeue")
@requires("editor")
def requeue(queue: str, message_id: str):
    source = source_queue(_checked(queue))
    try:
        parked = _parked(queue, message_id)
        if parked is not None and _turn_id(parked.text) is None:  # the pipeline would park it again at once
            flash(f"Message {message_id} is not an envelope the pipeline can take: it can only be discarded.",
                  "error")
            return redirect(url_for("poison.index"))
        moved = services().queues.requeue(queue, message_id)
    except MessageGone as e:
        flash(f"Nothing re-queued: {e} (someone re-queued or discarded it meanwhile).", "error")
        return redirect(url_for("poison.index"))
    except QueueError as e:
        flash(f"Nothing re-queued: {e}. The message is still parked.", "error")
        return redirect(url_for("poison.index"))
    turn_id = _turn_id(moved.text)
    services().audit.record(g.user.name, "poison.requeue", f"{queue}/{message_id}",
                            {"queue": queue, "source": source, "turn_id": turn_id})
    flash(f"Re-queued message {message_id} onto {source}" + (f" (turn {turn_id})." if turn_id else "."))
    return redirect(url_for("poison.index"))


@bp.post("/<queue>/<message_id>/discard")
@requires("editor")
def discard(queue: str, message_id: str):
    _checked(queue)
    try:
        gone = services().queues.discard(queue, message_id)
    except MessageGone as e:
        flash(f"Nothing discarded: {e} (someone re-queued or discarded it meanwhile).", "error")
        return redirect(url_for("poison.index"))
    except QueueError as e:
        flash(f"Nothing discarded: {e}. The message is still parked.", "error")
        return redirect(url_for("poison.index"))
    services().audit.record(g.user.name, "poison.discard", f"{queue}/{message_id}",
                            {"queue": queue, "turn_id": _turn_id(gone.text), "text": gone.text[:AUDIT_TEXT_LIMIT]})
    flash(f"Discarded message {message_id} from {queue}.")
    return redirect(url_for("poison.index"))


def _turn_id(text: str) -> str | None:
    try:
        return Envelope.from_json(text).turn_id
    except PermanentError:
        return None
