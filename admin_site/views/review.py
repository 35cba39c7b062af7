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
from admin_site.documents import Doc
from admin_site.services import services
from nlu import dataset

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
    threshold = svc.config.nlu_min_confidence
    page = turnlog.Page([], None)
    if problem is None:
        page = turnlog.page(svc.documents["turns"], turnlog.review_conditions(threshold), cursor,
                            turnlog.QUEUE_SIZE)
    body = render_template("review/index.html", turns=[turnlog.shape(d, threshold) for d in page.turns],
                           older=page.next.encode() if page.next else None, paged=cursor is not None,
                           threshold=threshold, intents=_intents(), problem=problem, here=request.full_path)
    return body, 400 if problem else 200


@bp.get("/<conversation_id>/<turn_id>")
@requires("viewer")
def turn(conversation_id: str, turn_id: str):
    doc = _turn_or_404(conversation_id, turn_id)
    return _turn_page(doc, {}, [], 200)


@bp.post("/<conversation_id>/<turn_id>")
@requires("editor")
def act(conversation_id: str, turn_id: str):
    svc = services()
    doc = _turn_or_404(conversation_id, turn_id)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, f"unknown action {action!r}: relabel, out_of_scope or dismiss")
    if doc.get("review"):
        return _already(doc["review"])
    intent, example, problems = _decide(action, doc)
    if problems:
        return _turn_page(doc, request.form, problems, 400)
    mark = turnlog.review_mark(action, g.user.name, intent, example)
    try:
        claimed = turnlog.mark_reviewed(svc.documents["turns"], doc, mark)
    except turnlog.AlreadyReviewed as e:
        return _already(e.review)
    except turnlog.TurnGone:
        abort(404, "The turn is no longer in the log.")
    if intent is not None and example is not None:
        try:
            svc.catalogue.add_example(intent, example, g.user.name)
        except Invalid as e:
            turnlog.unmark(svc.documents["turns"], claimed, mark)
            return _turn_page(doc, request.form, e.problems, 400)
        except Exception:
            turnlog.unmark(svc.documents["turns"], claimed, mark)
            raise
    svc.audit.record(g.user.name, f"review.{action}", f"turn {conversation_id}/{turn_id}",
                     {"intent": intent, "example": example} if intent else {})
    flash(f"Turn {ACTIONS[action]}" + (f": {example!r} added to {intent}." if intent else "."))
    return redirect(_next())


def _decide(action: str, doc: Doc) -> tuple[str | None, str | None, list[str]]:
    """The intent and the example an action adds (none for dismiss), or why it cannot."""
    if action == "dismiss":
        return None, None, []
    svc = services()
    raw = request.form.get("example")
    raw = (raw if raw is not None else turnlog.shape(doc)["annotated"]).strip()
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


def _turn_or_404(conversation_id: str, turn_id: str) -> Doc:
    doc = None
    if turnlog.valid_id(conversation_id) and turnlog.valid_id(turn_id):
        doc = services().documents["turns"].get(conversation_id, turn_id)
    if doc is None:
        abort(404, "There is no such turn in the log.")
    return doc


def _turn_page(doc: Doc, form, problems: list[str], status: int):
    shaped = turnlog.shape(doc, services().config.nlu_min_confidence)
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
