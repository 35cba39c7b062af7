"""Intents: list with example counts and search; create, rename, delete; the examples with inline
entity annotations (checked as you type by static/js/intents.js, and again here on save); the
intent's route and its branch's reply templates; utterances that are also in another intent flagged.

An intent's examples are edited as one textarea, one example a line (an intent of 800 examples is 800
lines: find, paste and bulk edits work as in any editor), saved with the ETag the page was opened
with. Beside it, the stored examples are listed a page of 100 at a time with a filter, each entity
span marked. A save that lost the race to another admin comes back with both versions."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from admin_site import catalogue as cat
from admin_site.auth import requires
from admin_site.ports import Doc
from admin_site.services import services
from admin_site.views import stored
from switchboard.errors import ConflictError

bp = Blueprint("intents", __name__, url_prefix="/intents")
PAGE_SIZE = 100  # examples listed per page on an intent's page
MATCHES_SHOWN = 5  # matching examples shown per intent in a search
DEFAULT = "__default__"  # the create form's route: the code's default for the name, if any


def route_label(route: str | None) -> str:
    return route if route else "no route (faq answers)"


def _route_choice(raw: str | None, name: str) -> str | None:
    if raw == DEFAULT:
        return services().catalogue.default_route(name)
    return raw or None


# ---- the list ------------------------------------------------------------------------------------

def search(view: cat.CatalogueView, query: str) -> list[dict]:
    """The intents (rows for the list) whose name or an example contains `query`, with the matches."""
    needle = " ".join(query.lower().split())
    dups = view.duplicates
    rows = []
    for doc in view.all(cat.INTENT):
        name, normalised = doc["name"], view.normalised.get(doc["name"], [])
        matches = [i for i, text in enumerate(normalised) if needle in text] if needle else []
        if needle and needle not in name and not matches:
            continue
        examples = doc.get("examples", [])
        rows.append({"name": name, "count": len(examples), "route": doc.get("route"),
                     "duplicates": sum(1 for text in normalised if text in dups),
                     "match_count": len(matches), "matches": [examples[i] for i in matches[:MATCHES_SHOWN]],
                     "updated_by": doc.get("updated_by", ""), "updated_at": doc.get("updated_at")})
    return rows


def _index(form: dict | None = None, problems: list[str] | None = None, status: int = 200):
    view = services().catalogue.view()
    query = request.args.get("q", "").strip()
    rows = search(view, query)
    return render_template(
        "intents/index.html", rows=rows, query=query, total=sum(r["count"] for r in rows),
        duplicate_count=len(view.duplicates), branches=sorted(services().branches.templates),
        entities=view.entity_names, form=form or {"name": "", "route": DEFAULT, "examples": ""},
        problems=problems or [], split=cat.split_annotated, route_label=route_label, default=DEFAULT), status


@bp.get("/")
@requires("viewer")
def index():
    return _index()


@bp.post("/")
@requires("editor")
def create():
    store = services().catalogue
    form = {"name": request.form.get("name", "").strip(), "route": request.form.get("route", DEFAULT),
            "examples": request.form.get("examples", "")}
    name = form["name"]
    examples, problems = cat.parse_examples(form["examples"], store.entity_names())
    if problem := cat.name_problem(name):
        problems.insert(0, problem)
    if problems:
        return _index(form, problems, 400)
    route = _route_choice(form["route"], name)
    try:
        store.save_intent(name, examples, route, None, g.user.name)
    except cat.Invalid as e:
        return _index(form, e.problems, 400)
    except ConflictError:
        return _index(form, [f"there is already an intent {name!r}: open it from the list"], 409)
    services().audit.record(g.user.name, "intent.create", name, {"examples": len(examples), "route": route})
    flash(f"Created intent {name} with {len(examples)} example{'s' if len(examples) != 1 else ''}.")
    return redirect(url_for("intents.show", name=name))


# ---- one intent ----------------------------------------------------------------------------------

def _examples_listing(view: cat.CatalogueView, doc: Doc) -> dict:
    """The stored examples as listed: filtered, a page at a time, each with the other intents it is in."""
    wanted = " ".join(request.args.get("filter", "").lower().split())
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    examples, normalised = doc.get("examples", []), view.normalised.get(doc["name"], [])
    if len(normalised) != len(examples):  # the doc was read after the view: normalise afresh
        normalised = [cat.normalise(e) for e in examples]
    chosen = [i for i, text in enumerate(normalised) if wanted in text] if wanted else list(range(len(examples)))
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(page, pages)
    dups = view.duplicates

    def others(i: int) -> list[str]:
        return [n for n in dups.get(normalised[i], []) if n != doc["name"]]

    shown = [(i + 1, examples[i], others(i)) for i in chosen[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]]
    flagged = [(examples[i], others(i)) for i, text in enumerate(normalised) if text in dups]
    return {"filter": request.args.get("filter", ""), "page": page, "pages": pages, "matching": len(chosen),
            "shown": shown, "duplicates": flagged}


def _replies_state(view: cat.CatalogueView, doc: Doc) -> dict | None:
    branch = doc.get("route")
    if not branch:
        return None
    templates = services().branches.templates.get(branch)
    if templates is None:
        return None
    stored = services().catalogue.get(cat.REPLIES, branch)
    return {"branch": branch, "templates": templates, "stored": stored,
            "texts": (stored or {}).get("templates", {}), "etag": (stored or {}).get("_etag", ""),
            "shared_with": sorted(n for n, d in view.intents.items() if d.get("route") == branch and n != doc["name"])}


def _show(doc: Doc, status: int = 200, **state):
    """The intent's page; `state` carries a refused form back (its values, problems, a conflict)."""
    view = services().catalogue.view()
    form = state.pop("form", None) or {
        "examples": "\n".join(doc.get("examples", [])), "route": doc.get("route") or "",
        "description": doc.get("description", ""), "etag": doc.get("_etag", "")}
    replies = _replies_state(view, doc)
    if replies and state.get("replies_form"):
        replies["texts"], replies["etag"] = state["replies_form"]["texts"], state["replies_form"]["etag"]
    return render_template(
        "intents/intent.html", intent=doc, form=form, listing=_examples_listing(view, doc), replies=replies,
        branches=sorted(services().branches.templates), entities=view.entity_names, in_use=cat.intent_in_use(doc),
        split=cat.split_annotated, route_label=route_label, **state), status



@bp.get("/<name>")
@requires("viewer")
def show(name: str):
    return _show(stored(cat.INTENT, name))


@bp.post("/<name>")
@requires("editor")
def save(name: str):
    store = services().catalogue
    form = {"examples": request.form.get("examples", ""), "route": request.form.get("route", ""),
            "description": request.form.get("description", "").strip(), "etag": request.form.get("etag", "")}
    examples, problems = cat.parse_examples(form["examples"], store.entity_names())
    stored = store.get(cat.INTENT, name)
    shown = stored or {"id": name, "name": name, "kind": cat.INTENT, "examples": [], "route": None}
    if problems:
        return _show(shown, 400, form=form, problems=problems)
    route = form["route"] or None
    try:
        saved = store.save_intent(name, examples, route, form["etag"] or None, g.user.name, form["description"])
    except cat.Invalid as e:
        return _show(shown, 400, form=form, problems=e.problems)
    except ConflictError as e:
        return _show(shown, 409, form={**form, "etag": (e.current or {}).get("_etag", "")},
                     conflict=_conflict(e.current, examples, route))
    before = (stored or {}).get("examples", [])
    added, removed = cat.diff_examples(examples, before)
    services().audit.record(g.user.name, "intent.update", name, {
        "examples": len(saved["examples"]), "added": len(added), "removed": len(removed), "route": route})
    flash(f"Saved {name}: {len(saved['examples'])} examples ({len(added)} added, {len(removed)} removed), "
          f"{route_label(route)}.")
    return redirect(url_for("intents.show", name=name))


def _conflict(current: Doc | None, examples: list[str], route: str | None) -> dict:
    """What the conflict box says: who saved what since the form was opened."""
    if current is None:
        return {"deleted": True}
    only_mine, only_theirs = cat.diff_examples(examples, current.get("examples", []))
    return {"deleted": False, "by": current.get("updated_by") or "someone", "at": current.get("updated_at"),
            "stored": current, "only_mine": only_mine, "only_theirs": only_theirs,
            "route_mine": route, "route_theirs": current.get("route")}


@bp.post("/<name>/rename")
@requires("editor")
def rename(name: str):
    store, new = services().catalogue, request.form.get("new_name", "").strip()
    try:
        saved = store.rename_intent(name, new, request.form.get("etag", ""), g.user.name)
    except cat.Invalid as e:
        return _show(stored(cat.INTENT, name), 400, rename_problems=e.problems, new_name=new)
    except ConflictError as e:
        if e.current is None:
            abort(404, f"there is no intent {name!r} any more: someone deleted or renamed it")
        return _show(e.current, 409, new_name=new, rename_problems=[
            f"{name} was changed by {e.current.get('updated_by') or 'someone'} since you opened it; "
            f"look at it again, then rename"])
    services().audit.record(g.user.name, "intent.rename", name, {"to": new})
    flash(f"Renamed {name} to {new}. The model knows it as {name} until it is trained again.")
    return redirect(url_for("intents.show", name=saved["name"]))


@bp.post("/<name>/delete")
@requires("editor")
def delete(name: str):
    store = services().catalogue
    try:
        gone = store.delete_intent(name, request.form.get("etag") or None, request.form.get("confirm") == "yes")
    except cat.Invalid as e:
        return _show(stored(cat.INTENT, name), 400, delete_problems=e.problems)
    except ConflictError as e:
        if e.current is None:
            flash(f"{name} was already deleted.")
            return redirect(url_for("intents.index"))
        return _show(e.current, 409, delete_problems=[
            f"{name} was changed by {e.current.get('updated_by') or 'someone'} since you opened it; "
            f"look at it again, then delete"])
    services().audit.record(g.user.name, "intent.delete", name,
                            {"examples": len(gone.get("examples", [])), "route": gone.get("route")})
    flash(f"Deleted intent {name}.")
    return redirect(url_for("intents.index"))


@bp.post("/<name>/replies")
@requires("editor")
def replies(name: str):
    store, doc = services().catalogue, stored(cat.INTENT, name)
    branch = request.form.get("branch", "")
    known = services().branches.templates.get(branch)
    if known is None:
        abort(400, f"there is no branch {branch!r}")
    texts = {key: request.form.get(f"reply.{key}", "").strip() for key in known}
    templates = {key: text for key, text in texts.items() if text}  # empty: the code's default
    etag = request.form.get("etag", "")
    if branch != doc.get("route"):  # the route changed since the page was opened
        return _show(doc, 409, replies_problems=[f"{name} no longer routes to {branch}; these are the replies "
                                                 f"of {route_label(doc.get('route'))}"])
    try:
        store.save_replies(branch, templates, etag or None, g.user.name)
    except cat.Invalid as e:
        return _show(doc, 400, replies_form={"texts": texts, "etag": etag}, replies_problems=e.problems)
    except ConflictError as e:
        current = e.current or {}
        return _show(doc, 409, replies_form={"texts": texts, "etag": current.get("_etag", "")},
                     replies_conflict={"by": current.get("updated_by") or "someone", "at": current.get("updated_at"),
                                       "texts": current.get("templates", {}), "deleted": e.current is None})
    services().audit.record(g.user.name, "replies.update", branch, {"from_intent": name, "keys": sorted(templates)})
    flash(f"Saved the replies of the {branch} branch.")
    return redirect(url_for("intents.show", name=name) + "#replies")
