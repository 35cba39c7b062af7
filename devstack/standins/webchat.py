"""The web chat page: the customer's side of the web chat channel, talking to the functions host at
`functions_url` (as the browser reaches it), from devstack/webchat."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, send_from_directory

WEBCHAT = Path(__file__).resolve().parents[1] / "webchat"


def webchat_app(functions_url: str) -> Flask:
    app = Flask("webchat")

    @app.get("/")
    def page():
        html = (WEBCHAT / "index.html").read_text().replace("__FUNCTIONS_URL__", functions_url)
        return html, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/favicon.ico")
    def favicon():  # what browsers ask for where nothing names an icon (a JSON answer, an old browser)
        return send_from_directory(WEBCHAT, "favicon.svg")

    @app.get("/<path:name>")
    def asset(name: str):
        if name.endswith((".js", ".css", ".svg")):
            return send_from_directory(WEBCHAT, name)
        abort(404)

    return app
