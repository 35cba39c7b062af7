"""One module per intent branch: `BRANCH` (its name), `REPLIES` (its reply templates with their
defaults) and `handle(turn, conversation, services)`, pure. Each has a Blueprint of the same name in
blueprints/ that puts it on its queue."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def all_branches() -> dict[str, ModuleType]:
    """Every branch module of this package, by its BRANCH name."""
    modules = (importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__))
    return {module.BRANCH: module for module in modules}


def all_templates() -> dict[str, dict]:
    """Every branch's reply templates with their defaults: {branch: {key: Template}}."""
    return {name: dict(module.REPLIES) for name, module in all_branches().items()}
