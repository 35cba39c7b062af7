"""Users (admins only): create one, change a role, disable or enable, set a new password. Every
change ends the user's sessions and is recorded in the audit log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from admin_site.accounts import ROLES, UserAlreadyExists
from admin_site.auth import requires
from admin_site.services import services

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/")
@requires("admin")
def index():
    return render_template("users/index.html", users=services().accounts.all(), roles=ROLES, form={})


@bp.post("/")
@requires("admin")
def create():
    form = {"name": (request.form.get("name") or "").strip().lower(), "role": request.form.get("role") or ""}
    password, again = request.form.get("password") or "", request.form.get("again") or ""
    problem = "the two passwords differ" if password != again else None
    if problem is None:
        try:
            user = services().accounts.create(form["name"], form["role"], password, by=g.user.name)
        except (ValueError, UserAlreadyExists) as e:
            problem = str(e)
    if problem:
        return render_template("users/index.html", users=services().accounts.all(), roles=ROLES, form=form,
                               error=problem), 400
    services().audit.record(g.user.name, "user.create", user.name, {"role": user.role})
    flash(f"Created {user.role} {user.name}.")
    return redirect(url_for("users.index"))


@bp.post("/<name>")
@requires("admin")
def update(name: str):
    accounts = services().accounts
    if accounts.get(name) is None:
        abort(404, f"there is no user {name!r}")
    change = request.form.get("change")
    if name == g.user.name and change in ("role", "disable"):
        abort(400, "you cannot change your own role or disable yourself (ask another admin)")
    try:
        if change == "role":
            user, detail = accounts.update(name, role=request.form.get("role")), {"role": request.form.get("role")}
        elif change in ("disable", "enable"):
            user, detail = accounts.update(name, disabled=change == "disable"), {}
        elif change == "password":
            user, detail = accounts.update(name, password=request.form.get("password") or ""), {}
        else:
            abort(400, "unknown change")
    except ValueError as e:
        return render_template("users/index.html", users=accounts.all(), roles=ROLES, form={},
                               error=f"{name}: {e}"), 400
    services().audit.record(g.user.name, f"user.{change}", user.name, detail)
    flash(f"{user.name}: {change} done; their sessions have ended.")
    return redirect(url_for("users.index"))
