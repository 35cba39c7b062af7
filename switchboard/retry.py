"""Retrying an outside service's transient answers within a step (the function app's clients, the
admin site's QnA publishing), over httpx with back-off.

Timeouts, connection errors, 5xx, 408 and 429 are retried a few times; what persists is the
caller's to raise (the queue then delivers the message again later). Log lines and errors name the
method and the host, never the path or query string: those carry what the customer typed (a product
search's words, an order number).
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchboard.errors import TransientError, is_transient_status

if TYPE_CHECKING:
    import httpx

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


def _transient_status(response: httpx.Response) -> bool:
    return is_transient_status(response.status_code)


def retrying(client: httpx.Client, method: str, url: str, policy: RetryPolicy,
             retry_after_header: str = "Retry-After",
             transient: Callable[[httpx.Response], bool] = _transient_status,
             **kwargs: Any) -> httpx.Response:
    """Send, retrying transient failures within the policy. Returns the first answer that is not
    transient, or the last transient one when the attempts (or the time to wait) run out; raises
    TransientError when no answer came at all."""
    import httpx

    target = f"{method} to {client.base_url.host or 'the service'}"
    for attempt in range(policy.attempts):
        response = None
        try:
            response = client.request(method, url, **kwargs)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            problem, wait = type(e).__name__, policy.wait(attempt)
        else:
            if not transient(response):
                return response
            problem = f"HTTP {response.status_code}"
            wait = policy.wait(attempt, response.headers.get(retry_after_header))
        if attempt + 1 == policy.attempts or wait > policy.max_wait:
            break
        log.info("retrying a %s in %.2fs after %s", target, wait, problem)
        time.sleep(wait)
    if response is not None:
        return response
    raise TransientError(f"a {target} failed after {attempt + 1} attempt(s): {problem}")
