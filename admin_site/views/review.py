"""The review queue: turns the model was unsure about (out of scope, below the bot's confidence
threshold, answered by fallback), each turned into training data in one click.

An editor relabels a turn (an intent and the customer's text annotated with its entity spans, pre-filled
from the model's guess), keeps it as an out-of-scope example, or dismisses it. Each action marks the
turn document (`review`: action, intent, example, by, at) so the turn leaves the queue, and is audited.
The mark is claimed first, with the turn's ETag, and taken back if the catalogue refuses the example:
two editors acting on one turn add one example, not two.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from admin_site import turnlog
from admin_site.auth import requires
from admin_site.catalogue import OOS, Invalid, example_problems
from admin_site.services import services
from nlu import dataset
from switchboard.envelope import valid_id
from switchboard.turns import TurnRecord

bp = Blueprint("review", __name__, url_prefix="/review")
ACTIONS = {"relabel": "relabelled", "out_of_scope": "kept as out of scope", "dismiss": "dismissed"}
MAX_EXAMPLE_CHARS = 1000  # the function app parses no more of a message than this


@bp.get("/")
@requires("viewer")
def index():
    svc = services()
    cursor, problem = None, None
    if request.args.get("before"):
        try:
            cursor = turnlog.Cursor.decode(request.args["before"])
        except ValueError as e:
            problem = str(e)
    threshold = svc.settings.nlu_min_confidence
    page = turnlog.Page([], None)
    if problem is None:
        page = svc.turns.review_queue(threshold, cursor)
    body = render_template("review/index.html", turns=[turnlog.shape(d, threshold) for d in page.turns],
                           older=page.next.encode() if page.next else None, paged=cursor is not None,
                           threshold=threshold, intents=_intents(), problem=problem, here=request.full_path)
    return body, 400 if problem else 200


@bp.get("/<conversation_id>/<turn_id>")
@requires("viewer")
def turn(conversation_id: str, turn_id: str):
    return _turn_page(_turn_or_404(conversation_id, turn_id), {}, [], 200)


@bp.post("/<conversation_id>/<turn_id>")
@requires("editor")
def act(conversation_id: str, turn_id: str):
    svc = services()
    turn = _turn_or_404(conversation_id, turn_id)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, f"unknown action {action!r}: relabel, out_of_scope or dismiss")
    if turn.review:
        return _already(turn.review)
    intent, example, problems = _decide(action, turn)
    if problems:
        return _turn_page(turn, request.form, problems, 400)
    mark = turnlog.review_mark(action, g.user.name, intent, example)
    try:
        claimed = svc.turns.mark_reviewed(turn, mark)
    except turnlog.AlreadyReviewed as e:
        return _already(e.review)
    except turnlog.TurnGone:
        abort(404, "The turn is no longer in the log.")
    if intent is not None and example is not None:
        try:
            svc.catalogue.add_example(intent, example, g.user.name)
        except Invalid as e:
            svc.turns.unmark(claimed, mark)
            return _turn_page(turn, request.form, e.problems, 400)
        except Exception:
            svc.turns.unmark(claimed, mark)
            raise
    svc.audit.record(g.user.name, f"review.{action}", f"turn {conversation_id}/{turn_id}",
                     {"intent": intent, "example": example} if intent else {})
    flash(f"Turn {ACTIONS[action]}" + (f": {example!r} added to {intent}." if intent else "."))
    return redirect(_next())


def _decide(action: str, turn: TurnRecord) -> tuple[str | None, str | None, list[str]]:
    """The intent and the example an action adds (none for dismiss), or why it cannot."""
    if action == "dismiss":
        return None, None, []
    svc = services()
    raw = request.form.get("example")
    raw = (raw if raw is not None else turnlog.shape(turn)["annotated"]).strip()
    if len(raw) > MAX_EXAMPLE_CHARS:
        return None, None, [f"the example is longer than {MAX_EXAMPLE_CHARS} characters"]
    if action == "out_of_scope":
        try:
            raw = dataset.parse_annotated(raw)[0].strip()  # out-of-scope examples carry no entities
        except ValueError as e:
            return None, None, [str(e)]
        intent = OOS
    else:
        intent = request.form.get("intent", "").strip()
        if intent not in _intents():
            return None, None, [f"pick one of the intents to relabel to (got {intent!r})"]
    problems = example_problems(raw, svc.catalogue.entity_names())
    return intent, raw, problems


def _intents() -> list[str]:
    return [i["name"] for i in services().catalogue.all("intent")]


def _turn_or_404(conversation_id: str, turn_id: str) -> TurnRecord:
    turn = None
    if valid_id(conversation_id) and valid_id(turn_id):
        turn = services().turns.get(conversation_id, turn_id)
    if turn is None:
        abort(404, "There is no such turn in the log.")
    return turn


def _turn_page(turn: TurnRecord, form, problems: list[str], status: int):
    shaped = turnlog.shape(turn, services().settings.nlu_min_confidence)
    values = {"intent": form.get("intent", shaped["intent"] or ""),
              "example": form.get("example", shaped["annotated"])}
    return render_template("review/turn.html", turn=shaped, intents=_intents(), values=values,
                           problems=problems, here=_next()), status


def _already(review: dict) -> Response:
    flash(f"{review.get('by')} reviewed this turn first ({review.get('action')}); nothing was added.",
          "error")
    return redirect(_next())


def _next() -> str:
    """Where to go after an action: the queue page it was taken on (this site's review pages only)."""
    target = request.values.get("next") or ""
    if target.startswith("/review") and not target.startswith("//"):
        return target
    return url_for("review.index")
