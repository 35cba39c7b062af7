"""Reply templates: a branch's reply with the values (`slots`) it fills in, `{order_id}` and the like.
Pure. The function app renders them; the admin site refuses at save time a text the function app
would ignore at load, by the same rule.
"""
from __future__ import annotations

import string
from collections.abc import Collection
from dataclasses import dataclass

MAX_TEMPLATE_CHARS = 2000


@dataclass(frozen=True)
class Template:
    """A reply's default text and the values (`slots`) its branch fills in."""
    text: str
    slots: tuple[str, ...] = ()


def template_problems(text: object, slots: Collection[str]) -> list[str]:
    """Why `text` (as stored or submitted: perhaps not a string) cannot be a template whose branch
    fills in `slots` (empty: it can)."""
    if not isinstance(text, str) or not text.strip():
        return ["the reply is empty"]
    if len(text) > MAX_TEMPLATE_CHARS:
        return [f"the reply has {len(text)} characters; the limit is {MAX_TEMPLATE_CHARS}"]
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as e:
        return [f"braces do not pair up ({e}); write {{{{ and }}}} for a literal brace"]
    problems: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier():
            problems.append(f"{{{name}}} is not a slot name" if name else "{} names no slot")
        elif name not in slots:
            known = ", ".join(f"{{{s}}}" for s in slots) or "none"
            problems.append(f"unknown slot {{{name}}} (this reply knows {known})")
        elif spec or conversion:
            problems.append(f"{{{name}}} takes no format or conversion")
    return problems
