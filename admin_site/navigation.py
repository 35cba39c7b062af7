"""The navigation bar: the page groups a user's role may see, with the counts that want attention
(handed-off conversations, parked messages), each cached for a few seconds. The counts and their
cache belong to one app (`app.extensions["navigation"]`), so two apps in a process share none."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from flask import Flask, current_app, g, request, url_for

# endpoint, label, the role that may open it, the counter shown beside it (if any)
NAV = [
    ("dashboard.index", "Dashboard", "viewer", None),
    ("conversations.index", "Conversations", "viewer", None),
    ("review.index", "Review", "viewer", None),
    ("inbox.index", "Inbox", "viewer", "inbox"),
    ("intents.index", "Intents", "viewer", None),
    ("entities.index", "Entities", "viewer", None),
    ("qna.index", "QnA", "viewer", None),
    ("data.index", "Import / export", "viewer", None),
    ("models.index", "Models", "viewer", None),
    ("poison.index", "Poison queues", "viewer", "poison"),
    ("audit.index", "Audit log", "viewer", None),
    ("users.index", "Users", "admin", None),
]
CACHE_SECONDS = 5.0


class Counters:
    """How to count each counter, and the last counts: each is read again after `CACHE_SECONDS`."""

    def __init__(self, counts: Mapping[str, Callable[[], int]]) -> None:
        self._counts = dict(counts)
        self._cache: dict[str, tuple[float, int]] = {}

    def count(self, name: str) -> int:
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            value = self._counts[name]()
        except Exception:  # noqa: BLE001 - a count that cannot be read is no reason to fail the page
            current_app.logger.warning("could not count %s", name, exc_info=True)
            value = 0
        self._cache[name] = (now, value)
        return value


def init_app(app: Flask, counts: Mapping[str, Callable[[], int]]) -> None:
    """Give `app` its navigation bar, with these counters (name -> how to count)."""
    app.extensions["navigation"] = Counters(counts)
    app.context_processor(lambda: {"nav_items": nav_items})


def nav_items() -> list[dict]:
    user = g.get("user")
    if user is None:
        return []
    counters: Counters = current_app.extensions["navigation"]
    items = []
    for endpoint, label, role, counter in NAV:
        if endpoint not in current_app.view_functions or not user.can(role):
            continue
        section = endpoint.split(".")[0]
        items.append({"url": url_for(endpoint), "label": label, "name": counter or section,
                      "active": (request.endpoint or "").split(".")[0] == section,
                      "count": counters.count(counter) if counter else 0})
    return items
