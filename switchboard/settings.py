"""A setting's text as its value: every deployable's settings dataclass reads its environment with
this, so one rule holds everywhere (a confidence is at most 1, a URL is http(s), ...)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from switchboard.connections import StorageAccount, describe_missing, storage_from_env
from switchboard.errors import SettingsError


def read_fields(settings_class: type, env: Mapping[str, str], env_names: Mapping[str, str],
                required: Callable[[str], bool], choices: Mapping[str, Sequence[str]] | None = None,
                ) -> tuple[dict[str, Any], list[str]]:
    """The values of a settings dataclass's fields named in `env_names` (field -> setting), parsed by
    `parse_value`, and the problems, each naming its setting: every deployable reads its settings so,
    and reports all problems at once. An empty setting leaves the field's default, or is a problem
    when `required(field)`."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(settings_class):
        name = env_names.get(field.name)
        if name is None:
            continue
        raw = env.get(name, "").strip()
        if not raw:
            if required(field.name):
                problems.append(f"{name} is not set")
            continue
        try:  # the annotation as text (annotations are postponed)
            values[field.name] = parse_value(field.name, str(field.type), raw, (choices or {}).get(field.name, ()))
        except ValueError as e:
            problems.append(f"{name}: {e}")
    return values, problems


def read_storage(env: Mapping[str, str], *prefixes: str, required: bool = False,
                 ) -> tuple[StorageAccount | None, list[str]]:
    """The storage account of the first of `prefixes` set (either form: `switchboard.connections`),
    and the problems: a malformed setting, or none set when `required`."""
    try:
        account = storage_from_env(env, *prefixes)
    except SettingsError as e:
        return None, [str(e)]
    return account, [describe_missing(*prefixes)] if account is None and required else []


def parse_value(name: str, kind: str, raw: str, choices: Sequence[str] = ()) -> Any:
    """A setting's text as its value, by its type (the dataclass field's annotation: "bool", "int",
    "float", else text) and name (a number is not negative, a window is longer than 0, a confidence is at most
    1, a URL or endpoint is http(s)); `choices`: the only texts allowed. ValueError says what is wrong."""
    if choices and raw not in choices:
        raise ValueError(f"choose one of {', '.join(choices)}, got {raw!r}")
    if kind == "bool":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    if kind == "int":
        whole = int(raw)
        if whole < 0:
            raise ValueError(f"must not be negative, got {raw}")
        return whole
    if kind == "float":
        value = float(raw)
        if value < 0:
            raise ValueError(f"must not be negative, got {raw}")
        if name.endswith("confidence") and value > 1:
            raise ValueError(f"a confidence is between 0 and 1, got {raw}")
        if name.endswith("window_seconds") and value == 0:
            raise ValueError("a window must be longer than 0 seconds")
        return value
    if name.endswith(("_url", "_endpoint")):
        parsed = urlparse(raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"not an http(s) URL: {raw!r}")
        return raw.rstrip("/")
    return raw
