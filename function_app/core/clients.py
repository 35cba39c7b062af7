"""HTTP clients of the outside services (NLU, shop, QnA), over httpx with timeouts and back-off.

Timeouts, connection errors, 5xx, 408 and 429 are retried a few times within the step; if they
persist the step raises TransientError and the queue delivers the message again later. Any other
answer that is not a success (a 400, a wrong key's 401) is a PermanentError naming the service,
the status and what it said: the turn cannot be answered as asked, whatever is retried.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from core.errors import PermanentError, SwitchboardError, TransientError, is_transient_status
from core.ports import Answer, Order, Product

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.1  # seconds before the 2nd attempt; doubled each time, with jitter
    max_wait: float = 2.0  # a Retry-After longer than this is left to the queue's own retry

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return float(retry_after)
            except ValueError:
                pass
        return self.backoff * (2 ** attempt) * random.uniform(0.5, 1.0)


def retrying(client: httpx.Client, method: str, url: str, policy: RetryPolicy,
             retry_after_header: str = "Retry-After",
             transient: Callable[[httpx.Response], bool] = lambda r: is_transient_status(r.status_code),
             **kwargs: Any) -> httpx.Response:
    """Send, retrying transient failures within the policy. Returns the first answer that is not
    transient, or the last transient one when the attempts (or the time to wait) run out; raises
    TransientError when no answer came at all."""
    for attempt in range(policy.attempts):
        response = None
        try:
            response = client.request(method, url, **kwargs)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            problem, wait = f"{type(e).__name__}: {e}", policy.wait(attempt)
        else:
            if not transient(response):
                return response
            problem = f"HTTP {response.status_code}"
            wait = policy.wait(attempt, response.headers.get(retry_after_header))
        if attempt + 1 == policy.attempts or wait > policy.max_wait:
            break
        log.info("retrying %s %s in %.2fs after %s", method, url, wait, problem)
        time.sleep(wait)
    if response is not None:
        return response
    raise TransientError(f"{method} {url} failed after {attempt + 1} attempt(s): {problem}")


def failed(service: str, response: httpx.Response) -> SwitchboardError:
    """An answer that is not a success, as the pipeline's error: transient or permanent by status."""
    error = TransientError if is_transient_status(response.status_code) else PermanentError
    return error(f"{service} answered {response.status_code}: {response.text[:200]}")


class NluClient:
    def __init__(self, base_url: str, timeout: float, policy: RetryPolicy = RetryPolicy(),
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)))
        self._policy = policy

    def parse(self, text: str) -> dict[str, Any]:
        response = retrying(self._http, "POST", "/v1/models/nlu:parse", self._policy, json={"text": text})
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
