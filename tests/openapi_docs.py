"""The OpenAPI documents of the HTTP surfaces, and the real routes of each service to check them against."""
from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import ROOT

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
NLU_DOCUMENT = ROOT / "inference_container" / "openapi.json"
FUNCTIONS_DOCUMENT = ROOT / "function_app" / "openapi.json"
ADMIN_DOCUMENT = ROOT / "admin_site" / "openapi.json"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def documented(document: dict, prefix: str = "") -> set[tuple[str, str]]:
    """(METHOD, path) of every operation, under the first server's path (e.g. /api)."""
    return {(method.upper(), prefix + path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def flask_routes(app, excluded: set[tuple[str, str]] = frozenset()) -> set[tuple[str, str]]:
    """(METHOD, path) of a Flask app's URL map in OpenAPI's template form (`<x>` -> `{x}`), without
    HEAD and OPTIONS (which Flask adds to every GET) and the static files."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes - set(excluded)


def function_routes(functions, route_prefix: str) -> set[tuple[str, str]]:
    """(METHOD, /<prefix>/<route>) of every HTTP trigger of a function app, from `app.get_functions()`
    (the bindings the Functions host reads; the app allows one call of it)."""
    routes = set()
    for function in functions:
        bindings = [b.get_dict_repr() for b in function.get_bindings()]
        trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
        if trigger["type"] != "httpTrigger":
            continue
        route = trigger.get("route") or function.get_function_name()
        for method in trigger.get("methods") or []:
            routes.add((str(getattr(method, "value", method)).upper(), f"/{route_prefix}/{route.strip('/')}"))
    return routes
