"""The bot's words as data: the route of each intent and the reply templates of each branch, which
admins edit in the admin site and the function app reads through the `CatalogueReader` port.

Pure. A branch declares its replies with their defaults (`REPLIES = {"hello": Template("Hi!")}`)
and gets, per turn, a `Replies` that prefers what the catalogue says. A template may name the
values its branch fills in (`{order_id}`), and nothing else: `switchboard.templates.template_problems`
says why a text cannot be used, so the admin site refuses it at save time and the function app
ignores it at load.
`CachedCatalogue` keeps the bot answering when the catalogue cannot be read: the copy it has, and at
first start the code's defaults.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from switchboard.templates import Template, template_problems

log = logging.getLogger(__name__)
REFRESH_SECONDS = 5.0  # an edit is live within this (and the time to read the catalogue)


class Replies:
    """One branch's reply texts for one turn: the catalogue's where it has a usable one, else the
    default in the branch's code."""

    def __init__(self, defaults: Mapping[str, Template], texts: Mapping[str, str] | None = None) -> None:
        self._defaults, self._texts = defaults, texts or {}

    def text(self, key: str, **values: object) -> str:
        template = self._defaults[key]
        return self._texts.get(key, template.text).format_map({s: values[s] for s in template.slots})


@dataclass(frozen=True)
class Catalogue:
    """What the function app reads: intent -> branch (None: no route, the turn goes to faq), and
    branch -> {reply key: template text}. Both only add to or override the code's defaults."""
    routes: Mapping[str, str | None] = field(default_factory=dict)
    replies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def usable(catalogue: Catalogue, branches: Mapping[str, Mapping[str, Template]]) -> Catalogue:
    """The part of a catalogue this code can use: routes to branches that exist and replies that
    `template_problems` accepts. What is dropped is logged (the admin site refuses it at save time,
    so it comes from an older or a newer version of the code, or from a hand edit)."""
    routes = {}
    for intent, branch in catalogue.routes.items():
        if branch is None or branch in branches:
            routes[intent] = branch
        else:
            log.warning("catalogue: intent %s routes to %s, which this code does not have", intent, branch)
    replies: dict[str, dict[str, str]] = {}
    for branch, texts in catalogue.replies.items():
        for key, text in texts.items():
            template = branches.get(branch, {}).get(key)
            problems = ["no such reply"] if template is None else template_problems(text, template.slots)
            if problems:
                log.warning("catalogue: reply %s.%s ignored: %s", branch, key, "; ".join(problems))
            else:
                replies.setdefault(branch, {})[key] = text
    return Catalogue(routes, replies)


class CachedCatalogue:
    """The catalogue as `load` reads it, at most `refresh_seconds` old.

    The first turn after that reads it again (one turn pays a point query, not every turn); when the
    read fails, the copy in hand stays (at first start: an empty catalogue, i.e. the code's
    defaults) and the next read is tried `refresh_seconds` later."""

    def __init__(self, load: Callable[[], Catalogue], branches: Mapping[str, Mapping[str, Template]],
                 refresh_seconds: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._load, self._branches, self._every, self._clock = load, branches, refresh_seconds, clock
        self._current, self._due = Catalogue(), 0.0
        self._lock = threading.Lock()

    def current(self) -> Catalogue:
        if self._clock() < self._due:
            return self._current
        with self._lock:
            if self._clock() >= self._due:  # not refreshed by another thread meanwhile
                try:
                    self._current = usable(self._load(), self._branches)
                except Exception as e:  # noqa: BLE001 - any failure to read: keep answering with what we have
                    log.warning("catalogue: could not read it, keeping the copy in hand: %s", e)
                self._due = self._clock() + self._every
        return self._current
