"""The navigation bar: the page groups a user's role may see, with the counts that want attention
(handed-off conversations, parked messages), each cached for a few seconds per process."""
from __future__ import annotations

import time
from typing import Callable

from flask import current_app, g, request, url_for

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
COUNTERS: dict[str, Callable[[], int]] = {}  # name -> how to count; registered by the blueprints
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, int]] = {}


def register_counter(name: str, count: Callable[[], int]) -> None:
    COUNTERS[name] = count


def count(name: str) -> int:
    now = time.monotonic()
    cached = _cache.get(name)
    if cached and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    try:
        value = COUNTERS[name]()
    except Exception:  # noqa: BLE001 - a count that cannot be read is no reason to fail the page
        current_app.logger.warning("could not count %s", name, exc_info=True)
        value = 0
    _cache[name] = (now, value)
    return value


def nav_items() -> list[dict]:
    user = g.get("user")
    if user is None:
        return []
    items = []
    for endpoint, label, role, counter in NAV:
        if endpoint not in current_app.view_functions or not user.can(role):
            continue
        section = endpoint.split(".")[0]
        items.append({"url": url_for(endpoint), "label": label, "name": counter or section,
                      "active": (request.endpoint or "").split(".")[0] == section,
                      "count": count(counter) if counter and counter in COUNTERS else 0})
    return items
