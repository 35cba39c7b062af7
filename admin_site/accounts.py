"""Admin users, their roles, and the throttle on failed logins.

Passwords are hashed with Argon2id (argon2-cffi's defaults); a user document keeps the hash, the
role, whether the account is disabled, and a `session_epoch` that every change of password, role or
status bumps, so that sessions issued before it stop working at their next request.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from admin_site.ports import Documents
from switchboard.errors import ConflictError

ROLES = ("viewer", "agent", "editor", "admin")  # each can do what the ones before it can

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


def allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool = False
    session_epoch: int = 0

    def can(self, needed: str) -> bool:
        return not self.disabled and allows(self.role, needed)


def name_problem(name: str) -> str | None:
    if not NAME.match(name or ""):
        return "a user name is 2-40 lower-case letters, digits, dots, dashes or underscores"
    return None


def password_problem(password: str) -> str | None:
    if len(password or "") < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    return None


class UserAlreadyExists(ValueError):
    pass


class Accounts:
    """Users (container `users`, partition /id) and login failures (container `throttle`)."""

    def __init__(self, users: Documents, throttle: Documents, hasher: PasswordHasher = _hasher) -> None:
        self._users, self._throttle, self._hasher = users, throttle, hasher

    # ---- users ---------------------------------------------------------------------------------
    def get(self, name: str) -> User | None:
        doc = self._users.get(name, name)
        return _user(doc) if doc else None

    def all(self) -> list[User]:
        return [_user(d) for d in self._users.find(order_by="id")]

    def count(self) -> int:
        return self._users.count()

    def create(self, name: str, role: str, password: str, by: str) -> User:
        problem = name_problem(name) or password_problem(password) or (None if role in ROLES else "unknown role")
        if problem:
            raise ValueError(problem)
        doc = {"id": name, "role": role, "password": self._hasher.hash(password), "disabled": False,
               "session_epoch": 0, "created_by": by, "created_at": time.time()}
        try:
            return _user(self._users.save(doc, etag=None))
        except ConflictError:
            raise UserAlreadyExists(f"there is already a user {name!r}") from None

    def update(self, name: str, *, role: str | None = None, disabled: bool | None = None,
               password: str | None = None) -> User:
        """Change a user; every change ends the user's sessions (a new epoch)."""
        if role is not None and role not in ROLES:
            raise ValueError("unknown role")
        if password is not None and password_problem(password):
            raise ValueError(password_problem(password))
        for _ in range(10):
            doc = self._users.get(name, name)
            if doc is None:
                raise KeyError(name)
            changed = {**doc, "session_epoch": doc.get("session_epoch", 0) + 1}
            if role is not None:
                changed["role"] = role
            if disabled is not None:
                changed["disabled"] = disabled
            if password is not None:
                changed["password"] = self._hasher.hash(password)
            try:
                return _user(self._users.save(changed, etag=doc["_etag"]))
            except ConflictError:
                continue
        raise RuntimeError(f"user {name} kept changing")

    def check_password(self, name: str, password: str) -> User | None:
        """The user, if the password is theirs and the account is enabled."""
        doc = self._users.get(name, name) if name else None
        if doc is None:
            self._hasher.hash(password or "-")  # the same work either way: no user-name oracle by timing
            return None
        try:
            self._hasher.verify(doc["password"], password or "")
        except (VerificationError, InvalidHashError):
            return None
        user = _user(doc)
        return None if user.disabled else user

    # ---- failed logins ---------------------------------------------------------------------------
    def failures(self, key: str, window: float, now: float | None = None) -> list[float]:
        """Times of the failed logins of `key` ("account:NAME" or "address:IP") within `window` s."""
        now = time.time() if now is None else now
        doc = self._throttle.get(key, key)
        return [t for t in (doc or {}).get("failures", []) if now - t < window]

    def record_failure(self, key: str, window: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for _ in range(10):
            doc = self._throttle.get(key, key)
            recent = [t for t in (doc or {}).get("failures", []) if now - t < window] + [now]
            try:
                self._throttle.save({"id": key, "failures": recent[-50:]}, etag=doc["_etag"] if doc else None)
                return
            except ConflictError:
                continue


def _user(doc: dict) -> User:
    return User(doc["id"], doc["role"], bool(doc.get("disabled")), int(doc.get("session_epoch", 0)))
