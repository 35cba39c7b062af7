"""The audit log: who changed what and when (container `audit`, partitioned by day)."""
from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from admin_site.ports import Documents


class AuditLog:
    def __init__(self, docs: Documents) -> None:
        self._docs = docs

    def record(self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        now = time.time()
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        self._docs.upsert({"id": uuid.uuid4().hex, "day": day, "at": now, "actor": actor, "action": action,
                           "target": target, "detail": detail or {}})

    def recent(self, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[dict]:
        where = [(k, "=", v) for k, v in (("actor", actor), ("action", action)) if v]
        return self._docs.find(where, order_by="at", descending=True, top=limit)

    def last(self, action: str, target: str) -> dict | None:
        """The newest entry of `action` on `target` (who deleted a QnA pair, and when)."""
        found = self._docs.find([("action", "=", action), ("target", "=", target)], order_by="at", descending=True,
                                top=1)
        return found[0] if found else None
