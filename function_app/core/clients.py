"""HTTP clients of the outside services (NLU, shop, QnA), over httpx with timeouts and back-off.

Timeouts, connection errors, 5xx, 408 and 429 are retried a few times within the step; if they
persist the step raises TransientError and the queue delivers the message again later. Any other
answer that is not a success (a 400, a wrong key's 401) is a PermanentError naming the service,
the status and its reason phrase: the turn cannot be answered as asked, whatever is retried. An
answer's body is never kept: it may quote what the customer asked (the turn log and the logs keep
the error's text).
"""
from __future__ import annotations

from typing import Any

import httpx

from core.ports import Answer, Order, Product
from switchboard.errors import PermanentError, SwitchboardError, TransientError, is_transient_status
from switchboard.retry import RetryPolicy, retrying


def failed(service: str, response: httpx.Response) -> SwitchboardError:
    """An answer that is not a success, as the pipeline's error: transient or permanent by status."""
    error = TransientError if is_transient_status(response.status_code) else PermanentError
    return error(f"{service} answered {response.status_code} {response.reason_phrase}".rstrip())


class NluClient:
    """The NLU service (`POST /v1/models/nlu:parse`), with its key as `Authorization: Bearer`."""

    def __init__(self, base_url: str, api_key: str, timeout: float, policy: RetryPolicy = RetryPolicy(),
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}"},
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)))
        self._policy = policy

    def parse(self, text: str) -> dict[str, Any]:
        response = retrying(self._http, "POST", "/v1/models/nlu:parse", self._policy, json={"text": text})
        if response.status_code == 401:  # every turn will be refused alike until the setting is fixed
            raise PermanentError(f"the NLU service refused the credential (NLU_API_KEY is not one of its "
                                 f"NLU_API_KEYS): answered 401 {response.reason_phrase}".rstrip())
        if response.status_code != 200:
            raise failed("the NLU service", response)
        return response.json()


class ShopClient:
    """The retailer's product and order API (`GET /products`, `GET /orders/{id}`)."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 3.0,
                 policy: RetryPolicy = RetryPolicy(), transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, headers={"x-api-key": api_key}, timeout=timeout,
                                  transport=transport)
        self._policy = policy

    def search_products(self, *, query: str | None, brand: str | None, colour: str | None,
                        limit: int) -> list[Product]:
        params = {k: v for k, v in {"q": query, "brand": brand, "colour": colour}.items() if v}
        response = retrying(self._http, "GET", "/products", self._policy, params={**params, "limit": limit})
        if response.status_code != 200:
            raise failed("the shop API", response)
        return [Product(p["sku"], p["name"], p["brand"], p["colour"], float(p["price"]))
                for p in response.json()["products"]]

    def get_order(self, order_id: str) -> Order | None:
        response = retrying(self._http, "GET", f"/orders/{order_id}", self._policy)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise failed("the shop API", response)
        o = response.json()
        return Order(o["order_id"], o["status"], o.get("eta"), tuple(o.get("items", ())))


class QnaClient:
    """Azure AI Language question answering: `POST {endpoint}/language/:query-knowledgebases`."""

    API_VERSION = "2021-10-01"

    def __init__(self, endpoint: str, api_key: str, project: str, deployment: str, timeout: float = 3.0,
                 policy: RetryPolicy = RetryPolicy(), transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=endpoint, timeout=timeout, transport=transport,
                                  headers={"Ocp-Apim-Subscription-Key": api_key})
        self._params = {"projectName": project, "deploymentName": deployment, "api-version": self.API_VERSION}
        self._policy = policy

    def ask(self, question: str) -> Answer | None:
        response = retrying(self._http, "POST", "/language/:query-knowledgebases", self._policy,
                            params=self._params, json={"question": question, "top": 1})
        if response.status_code != 200:
            raise failed("question answering", response)
        answers = response.json().get("answers") or []
        best = answers[0] if answers else None
        if best is None or best.get("id") == -1:  # the service's "No good match found in KB."
            return None
        return Answer(best["answer"], float(best.get("confidenceScore", 0.0)))
