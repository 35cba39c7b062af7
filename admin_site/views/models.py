"""Models: every registered version (metrics, data set, who trained it, which is production), a
version's per-intent F1 and most-confused pairs beside production's, and the training jobs with their
progress and log. Admins Train (the catalogue as it is now goes on the `training-requests` queue as
a job), Cancel, Promote and Roll back; each in the audit log. Viewers look.

The training worker (`python -m training_jobs worker`) runs the jobs; this page only reads what it
writes and asks it to stop (`cancel_requested` on the job).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core.exceptions import AzureError
from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState

from admin_site import catalogue as cat
from admin_site.auth import requires
from admin_site.security import _error
from admin_site.services import services
from nlu.artifact import DEFAULT_RECIPE, RECIPES, recipe_of
from nlu.dataset import OOS
from nlu.registry import Registry, RegistryError, parse_version
from nlu.training import ACTIVE, AWAITING, BACKENDS, JOB_ID, LOG_TAIL, PROMOTED, JobError, request_cancel
from switchboard.errors import ConflictError

bp = Blueprint("models", __name__, url_prefix="/models")
VERSIONS_SHOWN = 20
MAX_EPOCHS = 500
METADATA = "models.metadata"  # app.extensions: each app's versions' metadata, read once (a version never changes)
STORAGE_ERRORS = (RegistryError, JobError, AzureError, OSError)


@bp.record_once
def _keep_metadata(state: BlueprintSetupState) -> None:
    state.app.extensions[METADATA] = {}


@bp.errorhandler(AzureError)
@bp.errorhandler(RegistryError)
@bp.errorhandler(JobError)
@bp.errorhandler(OSError)
def storage_unreachable(e: Exception):
    """The registry or the training store cannot be read: a 502 that says so, not a stack trace."""
    return _error(502, f"The model registry or the training jobs could not be read: {e}")


# ---- plain data ------------------------------------------------------------------------------------

def parse_train_form(form: dict[str, str]) -> tuple[dict, list[str]]:
    """The Train form's options, and what is wrong with them."""
    problems, options = [], {}
    backend = form.get("backend") or "local"
    if backend not in BACKENDS:
        problems.append(f"back-end {backend!r}: choose {' or '.join(BACKENDS)}")
    options["backend"] = backend
    epochs = form.get("epochs", "").strip()
    if epochs:
        if not epochs.isdigit() or not 1 <= int(epochs) <= MAX_EPOCHS:
            problems.append(f"epochs {epochs!r}: a whole number from 1 to {MAX_EPOCHS}, or empty for the default")
        else:
            options["epochs"] = int(epochs)
    recipe = form.get("recipe") or DEFAULT_RECIPE
    if recipe not in RECIPES:
        problems.append(f"recipe {recipe!r}: choose {', '.join(RECIPES)}")
    options["recipe"] = recipe
    promote = form.get("auto_promote") or "default"
    if promote not in ("default", "yes", "no"):
        problems.append("promotion: choose the worker's default, yes or no")
    options["auto_promote"] = None if promote == "default" else promote == "yes"
    return options, problems


def elapsed(job: dict, now: dt.datetime | None = None) -> str:
    """How long a job has run (or ran): `3 min 05 s`; empty before it starts."""
    try:
        start = dt.datetime.fromisoformat(job["started_at"])
        end = dt.datetime.fromisoformat(job["finished_at"]) if job.get("finished_at") else (
            now or dt.datetime.now(dt.UTC))
    except (KeyError, TypeError, ValueError):  # not started yet (or a hand-edited document)
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def job_view(job: dict) -> dict:
    """What the jobs table and its polling show of a job."""
    progress = job.get("progress") or {}
    active = job["status"] in ACTIVE
    return {"id": job["id"], "status": job["status"], "phase": job.get("phase", ""), "requested_by":
            job.get("requested_by", ""), "requested_at": job.get("requested_at", ""), "elapsed": elapsed(job),
            "backend": job.get("backend") or job.get("options", {}).get("backend", ""),
            "recipe": (job.get("options") or {}).get("recipe") or "", "tier": progress.get("tier") or "",
            "epoch": progress.get("epoch"), "epochs": progress.get("epochs"), "loss": progress.get("loss"),
            "val_accuracy": progress.get("val_intent_accuracy"), "version": job.get("version"),
            "error": job.get("error"), "active": active, "log": job.get("log", [])[-LOG_TAIL:] if active else []}


def side_by_side(mine: dict, theirs: dict | None) -> dict:
    """A version's per-intent F1 and most-confused pairs beside production's."""
    theirs = theirs or {}
    names = sorted(set(mine.get("per_intent_f1", {})) | set(theirs.get("per_intent_f1", {})))
    rows = []
    for name in names:
        new, old = mine.get("per_intent_f1", {}).get(name), theirs.get("per_intent_f1", {}).get(name)
        rows.append({"intent": name, "new": new, "production": old,
                     "delta": None if new is None or old is None else round(new - old, 4)})
    rows.sort(key=lambda r: (r["delta"] is None, r["delta"] or 0.0, r["intent"]))
    return {"rows": rows, "confused": mine.get("most_confused", []), "production_confused":
            theirs.get("most_confused", [])}


def tiers_view(meta: dict) -> dict:
    """A version's recipe as the page shows it: each tier's latency at batch size 1 (measured when it
    was trained, on validation texts), the share the cascade escalates and its cut."""
    serving = (meta.get("metrics") or {}).get("serving") or {}
    rows = [{"tier": tier, "answered": figures.get("answered"), "p50_ms": figures.get("p50_ms"),
             "p95_ms": figures.get("p95_ms")}
            for tier, figures in sorted(serving.items()) if isinstance(figures, dict)]
    cascade = meta.get("cascade") or {}
    return {"recipe": recipe_of(meta), "rows": rows, "texts": serving.get("texts"),
            "share_escalated": serving.get("share_escalated"), "cut": cascade.get("cut"),
            "cut_reason": cascade.get("reason", ""), "parity": (meta.get("transformer") or {}).get("parity")}


def oos_curve_view(meta: dict) -> dict | None:
    """The out-of-scope trade-off the threshold was chosen on (validation): in-scope accuracy against
    out-of-scope recall for the score in use (the detector's, or the confidence), with its AUROC."""
    curves = ((meta.get("metrics") or {}).get("calibration") or {}).get("curves") or {}
    detector = (meta.get("detector") or {}).get("kind")
    name = detector if detector in curves else "confidence"
    curve = curves.get(name)
    if not curve or not any(p.get("oos_recall") is not None for p in curve.get("points", [])):
        return None
    threshold = (meta.get("detector") or {}).get("threshold") if detector else meta.get("threshold")
    return {"score": name, "auroc": curve.get("auroc"), "points": curve["points"], "threshold": threshold,
            "others": {k: c.get("auroc") for k, c in curves.items() if k != name}}


def unrouted(intents: list[dict], known: list[str], default_route: Callable[[str], str | None]) -> list[str]:
    """Intents the production version knows that have no route (none in the catalogue, nor a default
    in the code): their turns go to the `faq` branch until an admin routes them."""
    routes = {d["name"]: d.get("route") for d in intents}
    return sorted(name for name in known
                  if not (routes[name] if name in routes else default_route(name)) and name != OOS)


# ---- the registry, read -----------------------------------------------------------------------------

def _metadata(version: str, registry: Registry | None = None, cache: dict[str, dict] | None = None) -> dict:
    """A version's metadata (less its vocabulary), metrics and training job, read once per app.
    `registry` and `cache`: this app's, for a thread outside the request."""
    known: dict[str, dict] = current_app.extensions[METADATA] if cache is None else cache
    if version in known:
        return known[version]
    registry = registry or services().training.registry
    meta = registry.metadata(version)
    meta.pop("vocab", None)  # the page never shows it, and it is most of the document
    meta.update(job=registry.job(version), metrics=registry.metrics(version))
    if meta["metrics"] and meta["job"]:  # complete: the worker records the job after registering
        known[version] = meta
    return meta


def _headline(metrics: dict) -> tuple[str, dict]:
    split = "test" if "test" in metrics else "val"
    return split, metrics.get(split, {})


def _versions() -> tuple[list[dict], dict]:
    """The newest versions, newest first, and the production pointer's document."""
    registry, cache = services().training.registry, current_app.extensions[METADATA]
    pointer = registry.production()[0] or {}
    production = pointer.get("version")
    names = registry.versions()[-VERSIONS_SHOWN:][::-1]
    with ThreadPoolExecutor(8) as pool:
        metas = list(pool.map(lambda name: _metadata(name, registry, cache), names))
    rows = []
    for name, meta in zip(names, metas):
        split, scores = _headline(meta["metrics"])
        rows.append({"version": name, "created": meta.get("created", ""), "intents": len(meta.get("intents", [])),
                     "recipe": recipe_of(meta),
                     "split": split, "accuracy": scores.get("intent_accuracy"), "entity_f1": scores.get("entity_f1"),
                     "macro_f1": scores.get("intent_macro_f1"), "data": meta.get("data_source", ""),
                     "dataset": meta["job"].get("dataset", ""), "trained_by": meta["job"].get("requested_by", ""),
                     "job": meta["job"].get("job_id"), "production": name == production})
    return rows, pointer


def _job_for(version: str) -> dict | None:
    job_id = _metadata(version)["job"].get("job_id")
    return services().training.jobs.get(job_id) if job_id else None


def _version(version: str) -> str:
    """A registered version named in a URL, or 404."""
    try:
        parse_version(version)
    except (RegistryError, ValueError):
        abort(404, f"There is no version {version}.")
    if version not in services().training.registry.versions():
        abort(404, f"There is no version {version}.")
    return version


# ---- pages ------------------------------------------------------------------------------------------

@bp.get("/")
@requires("viewer")
def index():
    return _index()


def _index(form: dict | None = None, problems: list[str] | None = None, status: int = 200):
    training = services().training
    try:
        versions, pointer = _versions()
        jobs = [job_view(j) for j in training.jobs.list(30)]
        production, previous = pointer.get("version"), (pointer.get("history") or [None])[-1]
        known = _metadata(production).get("intents", []) if production else []
    except STORAGE_ERRORS as e:
        return render_template("models/index.html", error=str(e), versions=[], jobs=[], production=None,
                               previous=None, unrouted=[], form={}, problems=[], backends=BACKENDS,
                               recipes=RECIPES), 502
    return render_template(
        "models/index.html", error="", versions=versions, jobs=jobs, production=production, previous=previous,
        unrouted=unrouted(services().catalogue.all(cat.INTENT), known, services().catalogue.default_route),
        backends=BACKENDS,
        form=form or {"backend": "local", "recipe": DEFAULT_RECIPE, "epochs": "", "auto_promote": "default"},
        problems=problems or [], recipes=RECIPES,
        can_act=g.user.can("admin")), status


@bp.get("/jobs.json")
@requires("viewer")
def jobs_json():
    """What the page's script polls while a job is queued or running."""
    return jsonify({"jobs": [job_view(j) for j in services().training.jobs.list(30)]})


@bp.get("/jobs/<job_id>")
@requires("viewer")
def job(job_id: str):
    found = _job(job_id)
    return render_template("models/job.html", job=job_view(found), doc=found,
                           full_log=services().training.jobs.log(job_id) if found["status"] not in ACTIVE else "",
                           can_act=g.user.can("admin"))


def _job(job_id: str) -> dict:
    found = services().training.jobs.get(job_id) if JOB_ID.fullmatch(job_id) else None
    if found is None:
        abort(404, f"There is no training job {job_id}.")
    return found


@bp.get("/versions/<version>")
@requires("viewer")
def version(version: str):
    registry = services().training.registry
    meta = _metadata(_version(version))
    production = (registry.production()[0] or {}).get("version")
    split, mine = _headline(meta["metrics"])
    job = _job_for(version)
    gate = (job or {}).get("gate") or {}
    if gate.get("per_intent_f1") and gate.get("production_version"):
        # the gate scored both on the same held-out examples: that is the fair comparison
        against, basis = gate["production_version"], "the gate's held-out set, both versions"
        compare = side_by_side({"per_intent_f1": gate["per_intent_f1"]["new"],
                                "most_confused": gate["most_confused"]["new"]},
                               {"per_intent_f1": gate["per_intent_f1"]["production"],
                                "most_confused": gate["most_confused"]["production"]})
    else:  # each version's own held-out split (they may differ), or no comparison for production itself
        against = production if production and production != version else None
        basis = f"each version's own {split} split"
        compare = side_by_side(mine, _metadata(against)["metrics"].get(split) if against else None)
    return render_template("models/version.html", version=version, meta=meta, split=split, scores=mine,
                           production=production, against=against, basis=basis, compare=compare, job=job,
                           tiers=tiers_view(meta), curve=oos_curve_view(meta),
                           needs_confirmation=_needs_confirmation(job), can_act=g.user.can("admin"))


def _needs_confirmation(job: dict | None) -> str:
    """Why promoting this version needs a ticked confirmation ("" if it does not): its gate failed or
    never ran (the job failed or was cancelled after registering, or still runs)."""
    if job is None or job.get("status") in (PROMOTED, AWAITING):
        return ""
    if job.get("gate") and not job["gate"].get("passed"):
        return f"it failed its gate ({'; '.join(job['gate'].get('reasons', []))})"
    return f"its training job is {job.get('status')}, so the gate has not passed it"


@bp.post("/train")
@requires("admin")
def train():
    form = {k: request.form.get(k, "") for k in ("backend", "recipe", "epochs", "auto_promote")}
    options, problems = parse_train_form(form)
    document, left_out = services().catalogue.view().export
    examples = sum(len(i["examples"]) for i in document["intents"])
    if len([i for i in document["intents"] if i["examples"]]) < 2:
        problems.append("the catalogue needs at least two intents with examples to train on")
    if problems:
        return _index(form, problems, 400)
    summary = {"intents": len(document["intents"]), "examples": examples, "left_out": len(left_out)}
    try:
        job, ahead = services().training.request(document, g.user.name, options, summary)
    except STORAGE_ERRORS as e:
        return _index(form, [f"Not queued: {e}"], 502)
    services().audit.record(g.user.name, "model.train", job["id"], {**options, **summary})
    note = f" It waits behind {len(ahead)} job{'s' if len(ahead) != 1 else ''}." if ahead else ""
    left = (f" {len(left_out)} utterance{'s are' if len(left_out) != 1 else ' is'} in more than one intent and "
            "left out.") if left_out else ""
    flash(f"Training job {job['id']} queued: {examples} examples of {summary['intents']} intents.{note}{left}")
    return redirect(url_for("models.index"))


@bp.post("/jobs/<job_id>/cancel")
@requires("admin")
def cancel(job_id: str):
    _job(job_id)
    try:
        updated = services().training.jobs.update(job_id, lambda j: request_cancel(j, g.user.name))
    except JobError as e:
        flash(f"Not cancelled: {e}.", "error")
        return redirect(url_for("models.job", job_id=job_id))
    services().audit.record(g.user.name, "model.cancel", job_id, {"status": updated["status"]})
    flash(f"Job {job_id} cancelled." if updated["status"] == "cancelled" else
          f"Job {job_id}: the worker is stopping its training.")
    return redirect(url_for("models.job", job_id=job_id))


@bp.post("/versions/<version>/promote")
@requires("admin")
def promote(version: str):
    registry = services().training.registry
    trained_by = _job_for(_version(version))
    why = _needs_confirmation(trained_by)
    if why and request.form.get("confirm") != "yes":
        flash(f"Version {version}: {why}. Tick the confirmation to promote it anyway.", "error")
        return redirect(url_for("models.version", version=version))
    before = (registry.production()[0] or {}).get("version")
    if _switched(lambda: registry.promote(version), "Not promoted"):
        services().audit.record(g.user.name, "model.promote", version, {"previous": before, "confirmed": why or None})
        flash(f"Version {version} is production. The NLU service switches to it within seconds.")
    return redirect(url_for("models.index"))


@bp.post("/rollback")
@requires("admin")
def rollback():
    registry = services().training.registry
    before = (registry.production()[0] or {}).get("version")
    now = _switched(registry.rollback, "Not rolled back")
    if now:
        services().audit.record(g.user.name, "model.rollback", now["version"], {"previous": before})
        flash(f"Rolled back from {before} to {now['version']}.")
    return redirect(url_for("models.index"))


def _switched(change: Callable[[], dict], refused: str) -> dict | None:
    """Move the production pointer (on its ETag); None, with the reason flashed, when it did not move."""
    try:
        return change()
    except ConflictError:
        flash("Production changed meanwhile (someone else promoted or rolled back); check and try again.", "error")
    except RegistryError as e:
        flash(f"{refused}: {e}.", "error")
    return None


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


bp.add_app_template_filter(_fmt, "pct")
