"""Entities: what example annotations may name. Each has synonyms (a value and the words that mean it:
`blue: navy, cobalt`, so the bot gets "blue" when a customer says "navy") and lookup values (a list of
the values it takes). Created and edited with the ETag they were opened with; deleting one that
examples still annotate is refused with where, unless confirmed."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from admin_site import catalogue as cat
from admin_site.auth import requires
from admin_site.ports import Doc
from admin_site.services import services
from admin_site.views import stored
from switchboard.errors import ConflictError

bp = Blueprint("entities", __name__, url_prefix="/entities")
EMPTY_FORM = {"name": "", "synonyms": "", "lookups": "", "etag": ""}


def _form() -> dict:
    return {"name": request.form.get("name", "").strip(), "synonyms": request.form.get("synonyms", ""),
            "lookups": request.form.get("lookups", ""), "etag": request.form.get("etag", "")}


def _form_of(doc: Doc) -> dict:
    return {"name": doc["name"], "synonyms": cat.format_synonyms(doc.get("synonyms", {})),
            "lookups": "\n".join(doc.get("lookups", [])), "etag": doc.get("_etag", "")}


def _index(form: dict | None = None, problems: list[str] | None = None, status: int = 200):
    view = services().catalogue.view()
    usage = view.entity_usage
    rows = [{"name": d["name"], "value_count": len(d.get("synonyms", {})),
             "synonyms": sum(len(a) for a in d.get("synonyms", {}).values()), "lookups": len(d.get("lookups", [])),
             "used": sum(usage.get(d["name"], {}).values()), "intents": sorted(usage.get(d["name"], {})),
             "updated_by": d.get("updated_by", ""), "updated_at": d.get("updated_at")}
            for d in view.all(cat.ENTITY)]
    return render_template("entities/index.html", rows=rows, form=form or EMPTY_FORM,
                           problems=problems or []), status


def _save(form: dict, etag: str | None) -> tuple[Doc | None, list[str], ConflictError | None]:
    """Parse and save a form: (the saved entity, problems, a conflict)."""
    synonyms, problems = cat.parse_synonyms(form["synonyms"])
    if problem := cat.name_problem(form["name"], "an entity"):
        problems.insert(0, problem)
    if problems:
        return None, problems, None
    try:
        saved = services().catalogue.save_entity(form["name"], synonyms, cat.parse_lookups(form["lookups"]), etag,
                                                 g.user.name)
    except cat.Invalid as e:
        return None, e.problems, None
    except ConflictError as e:
        return None, [], e
    return saved, [], None


@bp.get("/")
@requires("viewer")
def index():
    return _index()


@bp.post("/")
@requires("editor")
def create():
    form = _form()
    saved, problems, conflict = _save(form, None)
    if conflict is not None:
        return _index(form, [f"there is already an entity {form['name']!r}: open it from the list"], 409)
    if saved is None:
        return _index(form, problems, 400)
    services().audit.record(g.user.name, "entity.create", saved["name"],
                            {"values": len(saved["synonyms"]), "lookups": len(saved["lookups"])})
    flash(f"Created entity {saved['name']}.")
    return redirect(url_for("entities.show", name=saved["name"]))


def _show(doc: Doc, status: int = 200, **state):
    view = services().catalogue.view()
    usage = view.entity_usage.get(doc["name"], {})
    return render_template("entities/entity.html", entity=doc, form=state.pop("form", None) or _form_of(doc),
                           usage=sorted(usage.items()), used=sum(usage.values()), **state), status



@bp.get("/<name>")
@requires("viewer")
def show(name: str):
    return _show(stored(cat.ENTITY, name))


@bp.post("/<name>")
@requires("editor")
def save(name: str):
    form = {**_form(), "name": name}
    stored = services().catalogue.get(cat.ENTITY, name)
    shown = stored or {"id": name, "name": name, "kind": cat.ENTITY, "synonyms": {}, "lookups": []}
    saved, problems, conflict = _save(form, form["etag"] or None)
    if conflict is not None:
        current = conflict.current
        return _show(shown, 409, form={**form, "etag": (current or {}).get("_etag", "")}, conflict={
            "deleted": current is None, "by": (current or {}).get("updated_by") or "someone",
            "at": (current or {}).get("updated_at"), "stored": current and _form_of(current)})
    if saved is None:
        return _show(shown, 400, form=form, problems=problems)
    services().audit.record(g.user.name, "entity.update", name,
                            {"values": len(saved["synonyms"]), "lookups": len(saved["lookups"])})
    flash(f"Saved entity {name}.")
    return redirect(url_for("entities.show", name=name))


@bp.post("/<name>/delete")
@requires("editor")
def delete(name: str):
    store = services().catalogue
    try:
        changed = store.delete_entity(name, request.form.get("etag") or None, g.user.name,
                                      request.form.get("confirm") == "yes")
    except cat.Invalid as e:
        return _show(stored(cat.ENTITY, name), 400, delete_problems=e.problems)
    except ConflictError as e:
        if e.current is None:
            flash(f"{name} was already deleted.")
            return redirect(url_for("entities.index"))
        return _show(e.current, 409, delete_problems=[
            f"{name} was changed by {e.current.get('updated_by') or 'someone'} since you opened it; "
            f"look at it again, then delete"])
    services().audit.record(g.user.name, "entity.delete", name, {"annotations_removed": changed})
    flash(f"Deleted entity {name}" + (f"; {changed} examples lost their {name} annotations." if changed else "."))
    return redirect(url_for("entities.index"))
