"""GET /api/openapi.json: the OpenAPI 3 document of the app's HTTP triggers (function_app/openapi.json).

tests/contracts checks it against the routes `app.get_functions()` lists, and fuzzes the running app
with it (Schemathesis)."""
from pathlib import Path

import azure.functions as func

bp = func.Blueprint()
DOCUMENT = (Path(__file__).resolve().parents[1] / "openapi.json").read_bytes()


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(DOCUMENT, status_code=200, mimetype="application/json", charset="utf-8")
