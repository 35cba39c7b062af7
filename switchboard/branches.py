"""The function app's branches as data: each branch's reply templates (with their default texts and
slots) and the code's default route of each intent. The admin site offers and checks exactly these
(a route to a branch that exists, a reply that fills only its branch's slots) without importing the
function app.

`branches.json` beside this module is written from the function app's code by `make manifest`
(`function_app/core/manifest.py`); `make run` and `make test` write it first, and a test fails when
it differs from the code.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard.templates import Template

MANIFEST = Path(__file__).with_name("branches.json")


@dataclass(frozen=True)
class Branches:
    # branch -> key -> template
    templates: Mapping[str, Mapping[str, Template]] = field(default_factory=dict[str, Mapping[str, Template]])
    routes: Mapping[str, str] = field(default_factory=dict[str, str])  # intent -> branch: the code's defaults

    def to_json(self) -> str:
        data = {"branches": {name: {key: {"text": t.text, "slots": list(t.slots)} for key, t in sorted(replies.items())}
                             for name, replies in sorted(self.templates.items())},
                "routes": dict(sorted(self.routes.items()))}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Branches:
        data: dict[str, Any] = json.loads(text)
        templates = {name: {key: Template(t["text"], tuple(t["slots"])) for key, t in replies.items()}
                     for name, replies in data["branches"].items()}
        return cls(templates, dict(data["routes"]))


def load(path: Path = MANIFEST) -> Branches:
    """The manifest; a missing or unreadable one names the file and how to write it."""
    try:
        return Branches.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RuntimeError(f"{path}: cannot read the branch manifest ({e}); write it with `make manifest`") from e
