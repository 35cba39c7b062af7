"""QnA pairs with alternative questions; publish them to question answering.

Everyone may read the pairs; editors add, change and delete them and publish. A pair is saved with the
ETag it was read with: a pair changed meanwhile comes back with both versions and who changed it, and
saving again keeps the editor's version. Publishing (admin_site.qna_publish) makes the question
answering project equal the catalogue and deploys it; until then the bot answers from what was last
published. Every change and every publish, failed or not, is in the audit log.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from admin_site.auth import requires
from admin_site.catalogue import QNA, Invalid
from admin_site.ports import Doc
from admin_site.qna_publish import PublishError, pair_problems
from admin_site.services import services
from switchboard.errors import ConflictError

bp = Blueprint("qna", __name__, url_prefix="/qna")
PAIR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# ---- pure helpers ------------------------------------------------------------------------------------
def parse_questions(raw: str) -> list[str]:
    """One question a line; blank lines and repeats dropped."""
    return list(dict.fromkeys(line.strip() for line in raw.splitlines() if line.strip()))


def matching(pairs: list[Doc], text: str) -> list[Doc]:
    """The pairs whose answer or any question contains `text` (any case), sorted by first question."""
    needle = text.strip().lower()
    found = [p for p in pairs
             if not needle or needle in p.get("answer", "").lower() or any(needle in q.lower() for q in p["questions"])]
    return sorted(found, key=lambda p: (p["questions"][0].lower() if p.get("questions") else "", p["id"]))


def when(epoch: float | None) -> str:
    if not epoch:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def form_of(doc: Doc) -> dict[str, str]:
    return {"questions": "\n".join(doc.get("questions", [])), "answer": doc.get("answer", ""),
            "etag": doc.get("_etag", "")}


def problems_of(questions: list[str], answer: str) -> list[str]:
    problems = [] if questions else ["a pair needs at least one question"]
    if not answer.strip():
        problems.append("the answer is empty")
    return problems + pair_problems(questions, answer)


# ---- reading -------------------------------------------------------------------------------------------
def _publishes(limit: int = 20) -> list[dict]:
    return services().audit.recent(limit=limit, action="qna.publish")


def _pair(pair_id: str) -> Doc:
    if not PAIR_ID.match(pair_id):
        abort(404, f"there is no QnA pair {pair_id!r}")
    doc = services().catalogue.get(QNA, pair_id)
    if doc is None:
        abort(404, f"there is no QnA pair {pair_id!r} (deleted?)")
    return doc


def _index(form: dict[str, str] | None = None, problems: list[str] | None = None, status: int = 200):
    publishes = _publishes()
    published = next((p for p in publishes if "error" not in p.get("detail", {})), None)
    pairs = matching(services().catalogue.all(QNA), request.args.get("q", ""))
    return render_template("qna/index.html", pairs=pairs, q=request.args.get("q", ""), form=form or {},
                           problems=problems or [], last=publishes[0] if publishes else None, published=published,
                           target=services().qna.target, when=when), status


def _edit(doc: Doc, form: dict[str, str], problems: list[str] | None = None, conflict: dict | None = None,
          status: int = 200):
    return render_template("qna/edit.html", pair=doc, form=form, problems=problems or [], conflict=conflict,
                           when=when), status


# ---- pages -------------------------------------------------------------------------------------------
@bp.get("/")
@requires("viewer")
def index():
    return _index()


@bp.post("/")
@requires("editor")
def create():
    form = {"questions": request.form.get("questions", ""), "answer": request.form.get("answer", "")}
    questions, answer = parse_questions(form["questions"]), form["answer"]
    problems = problems_of(questions, answer)
    if not problems:
        try:
            saved = services().catalogue.save_qna(None, questions, answer, None, g.user.name)
        except Invalid as e:
            problems = e.problems
    if problems:
        return _index(form, problems, 400)
    services().audit.record(g.user.name, "qna.create", saved["id"], {"questions": saved["questions"],
                                                                     "answer": _short(saved["answer"])})
    flash(f"Added the pair \u201c{saved['questions'][0]}\u201d. Publish to let the bot answer it.")
    return redirect(url_for("qna.index"))


@bp.get("/pairs/<pair_id>")
@requires("editor")
def edit(pair_id: str):
    doc = _pair(pair_id)
    return _edit(doc, form_of(doc))


@bp.post("/pairs/<pair_id>")
@requires("editor")
def save(pair_id: str):
    if not PAIR_ID.match(pair_id):
        abort(404, f"there is no QnA pair {pair_id!r}")
    form = {"questions": request.form.get("questions", ""), "answer": request.form.get("answer", ""),
            "etag": request.form.get("etag", "")}
    questions, answer = parse_questions(form["questions"]), form["answer"]
    doc = {"id": pair_id, "questions": questions, "answer": answer}
    problems = problems_of(questions, answer)
    if problems:
        return _edit(doc, form, problems, status=400)
    try:
        saved = services().catalogue.save_qna(pair_id, questions, answer, form["etag"] or None, g.user.name)
    except Invalid as e:
        return _edit(doc, form, e.problems, status=400)
    except ConflictError as e:
        return _edit(doc, {**form, "etag": (e.current or {}).get("_etag", "")},
                     conflict=_conflict(pair_id, e.current), status=409)
    services().audit.record(g.user.name, "qna.update", pair_id, {"questions": saved["questions"],
                                                                 "answer": _short(saved["answer"])})
    flash(f"Saved the pair \u201c{saved['questions'][0]}\u201d. Publish to let the bot answer with it.")
    return redirect(url_for("qna.index"))


@bp.post("/pairs/<pair_id>/delete")
@requires("editor")
def delete(pair_id: str):
    doc = _pair(pair_id)
    etag = request.form.get("etag") or None
    try:
        services().catalogue.delete(QNA, pair_id, etag)
    except ConflictError as e:
        current = e.current or doc
        return _edit(current, form_of(current), ["not deleted: the pair changed since you opened it; "
                                                 "delete again to delete the stored version"],
                     conflict={**_conflict(pair_id, e.current), "deleting": True}, status=409)
    services().audit.record(g.user.name, "qna.delete", pair_id, {"questions": doc["questions"],
                                                                 "answer": _short(doc["answer"])})
    flash(f"Deleted the pair \u201c{doc['questions'][0]}\u201d. Publish to stop the bot answering it.")
    return redirect(url_for("qna.index"))


@bp.post("/publish")
@requires("editor")
def publish():
    publisher = services().qna
    pairs = services().catalogue.all(QNA)
    try:
        result = publisher.publish(pairs)
    except PublishError as e:
        services().audit.record(g.user.name, "qna.publish", publisher.name, {"pairs": len(pairs), "error": str(e)})
        flash(f"Publishing failed: {e}", "error")
        return redirect(url_for("qna.index"))
    services().audit.record(g.user.name, "qna.publish", publisher.name, {"pairs": len(pairs), **result.detail()})
    flash(f"Published {len(pairs)} pair{'' if len(pairs) == 1 else 's'}: {result.summary()}.")
    return redirect(url_for("qna.index"))


def _conflict(pair_id: str, current: Doc | None) -> dict[str, Any]:
    """Who changed the pair meanwhile and what is stored now (None: deleted)."""
    if current is None:
        gone = services().audit.last("qna.delete", pair_id) or {}
        return {"current": None, "by": gone.get("actor", "someone"), "at": gone.get("at")}
    return {"current": current, "by": current.get("updated_by", "someone"), "at": current.get("updated_at")}


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
