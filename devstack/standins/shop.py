"""The shop API stand-in: `GET /products?q=&brand=&colour=&limit=`, `GET /orders/<id>` (header
x-api-key), over devstack/data/products.json and orders.json."""
from __future__ import annotations

import json
from pathlib import Path

from flask import Flask, jsonify, request

from devstack.standins import DATA, words


def _json_error(status: int, message: str):
    response = jsonify({"error": {"code": status, "message": message}})
    response.status_code = status
    return response


def shop_app(api_key: str, data: Path = DATA) -> Flask:
    app = Flask("shop")
    products = json.loads((data / "products.json").read_text())
    orders = {o["order_id"]: o for o in json.loads((data / "orders.json").read_text())}

    @app.before_request
    def check_key():
        if request.headers.get("x-api-key") != api_key:
            return _json_error(401, "missing or wrong x-api-key")

    @app.get("/products")
    def search():
        q, brand, colour = (request.args.get(k, "").strip().lower() for k in ("q", "brand", "colour"))
        limit = min(int(request.args.get("limit", 10)), 50)

        def matches(p: dict) -> bool:
            haystack = words(f"{p['name']} {p['category']}")
            return ((not q or words(q) <= haystack or q in p["category"])
                    and (not brand or brand == p["brand"].lower())
                    and (not colour or colour == p["colour"].lower()))
        found = [p for p in products if matches(p)]
        return jsonify({"products": found[:limit], "total": len(found)})

    @app.get("/orders/<order_id>")
    def order(order_id: str):
        found = orders.get(order_id.upper())
        return jsonify(found) if found else _json_error(404, f"no order {order_id}")

    return app
