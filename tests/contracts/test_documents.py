"""Each HTTP surface's OpenAPI 3 document is valid, is what the service serves, and names exactly the
service's real routes (minus those listed here as deliberately left out)."""
from __future__ import annotations

import json

import pytest
import schemathesis
from flask import Flask

from admin_site import create_app
from admin_site.services import build
from adminclient import make_settings
from devstack.app_loader import load_app
from devstack.stack import Ports, app_settings
from helpers import ROOT
from openapi_docs import (
    ADMIN_DOCUMENT,
    FUNCTIONS_DOCUMENT,
    NLU_DOCUMENT,
    documented,
    flask_routes,
    function_routes,
    load,
)

# The admin site's routes deliberately left out of its document: HTML pages, form posts (each answers
# a page or a redirect) and the data set's YAML download. Only what answers JSON is documented.
ADMIN_NOT_JSON = {
    ("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/audit/"),
    ("GET", "/conversations/"), ("GET", "/conversations/{conversation_id}"),
    ("GET", "/data/"), ("GET", "/data/export"), ("POST", "/data/import"),
    ("GET", "/entities/"), ("POST", "/entities/"), ("GET", "/entities/{name}"), ("POST", "/entities/{name}"),
    ("POST", "/entities/{name}/delete"),
    ("GET", "/inbox/"), ("GET", "/inbox/{conversation_id}"), ("POST", "/inbox/{conversation_id}/release"),
    ("POST", "/inbox/{conversation_id}/reply"),
    ("GET", "/intents/"), ("POST", "/intents/"), ("GET", "/intents/{name}"), ("POST", "/intents/{name}"),
    ("POST", "/intents/{name}/delete"), ("POST", "/intents/{name}/rename"), ("POST", "/intents/{name}/replies"),
    ("GET", "/models/"), ("GET", "/models/jobs/{job_id}"), ("POST", "/models/jobs/{job_id}/cancel"),
    ("POST", "/models/rollback"), ("POST", "/models/train"), ("GET", "/models/versions/{version}"),
    ("POST", "/models/versions/{version}/promote"),
    ("GET", "/poison/"), ("POST", "/poison/{queue}/{message_id}/discard"),
    ("POST", "/poison/{queue}/{message_id}/requeue"),
    ("GET", "/qna/"), ("POST", "/qna/"), ("GET", "/qna/pairs/{pair_id}"), ("POST", "/qna/pairs/{pair_id}"),
    ("POST", "/qna/pairs/{pair_id}/delete"), ("POST", "/qna/publish"),
    ("GET", "/review/"), ("GET", "/review/{conversation_id}/{turn_id}"),
    ("POST", "/review/{conversation_id}/{turn_id}"),
    ("GET", "/users/"), ("POST", "/users/"), ("POST", "/users/{name}"),
}


@pytest.mark.parametrize("path", [NLU_DOCUMENT, FUNCTIONS_DOCUMENT, ADMIN_DOCUMENT], ids=lambda p: p.parent.name)
def test_the_document_is_valid_openapi_3(path):
    document = load(path)
    assert document["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_path(path)
    schema.validate()  # against the OpenAPI 3.0 meta-schema; raises naming the problem
    assert len(list(schema.get_all_operations())) == len(documented(document))


def test_the_nlu_document_names_the_services_routes_and_is_served():
    from inference_container import app as nlu

    app = Flask(__name__)  # the service's routes, without loading a model
    app.register_blueprint(nlu.bp)
    assert documented(load(NLU_DOCUMENT)) == flask_routes(app)
    served = app.test_client().get("/openapi.json")
    assert served.status_code == 200 and served.mimetype == "application/json"
    assert served.get_json() == load(NLU_DOCUMENT)


def test_the_function_app_document_names_its_http_triggers_and_is_served(monkeypatch):
    for key, value in app_settings(Ports()).items():
        monkeypatch.setenv(key, value)
    functions = load_app(ROOT / "function_app").get_functions()
    prefix = json.loads((ROOT / "function_app" / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    document = load(FUNCTIONS_DOCUMENT)
    assert document["servers"] == [{"url": f"/{prefix}"}]
    assert documented(document, f"/{prefix}") == function_routes(functions, prefix)
    [function] = [f for f in functions if f.get_function_name() == "openapi"]
    import azure.functions as func

    served = function.get_user_function()(func.HttpRequest("GET", f"/{prefix}/openapi.json", body=b""))
    assert served.status_code == 200 and served.mimetype == "application/json"
    assert json.loads(served.get_body()) == document


def test_the_admin_document_names_its_json_routes_and_is_served():
    app = create_app(services=build(make_settings()))  # in-memory stores
    routes = flask_routes(app)
    assert ADMIN_NOT_JSON <= routes, ADMIN_NOT_JSON - routes  # each exclusion names a real route
    assert documented(load(ADMIN_DOCUMENT)) == routes - ADMIN_NOT_JSON
    served = app.test_client().get("/openapi.json")  # public: no login
    assert served.status_code == 200 and served.mimetype == "application/json"
    assert served.get_json() == load(ADMIN_DOCUMENT)
