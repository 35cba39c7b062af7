"""The error hierarchy every deployable shares.

Permanent failures (a payload that can never be processed, a request an outside service refuses
for good) are recorded and acknowledged; transient ones (timeouts, 5xx, 408, 429, ETag conflicts
that kept losing) are re-raised so that the queue delivers the message again and, after
`maxDequeueCount` attempts, parks it in `<queue>-poison`. Adapters translate their SDK's or HTTP
client's errors into these two, so the steps decide on them alone.
"""
from typing import Any


class SwitchboardError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class SettingsError(SwitchboardError, ValueError):
    """A setting is missing or invalid, the message naming it; raised once, at start-up."""


class PermanentError(SwitchboardError):
    """Retrying cannot help: the input is malformed, refers to something that does not exist, or an
    outside service refused the request for good."""


class TransientError(SwitchboardError):
    """A dependency failed in a way that may pass: the message should be retried."""


class ConflictError(TransientError):
    """An optimistic-concurrency write lost: the document changed (or appeared, or went) since it was
    read. `current` is what is stored now, when the store says (a page shows both, and who changed it)."""

    def __init__(self, message: str = "the document changed since it was read", current: Any = None) -> None:
        super().__init__(message)
        self.current = current


def is_transient_status(status: int | None) -> bool:
    """HTTP statuses worth retrying: no answer at all, 408, 429, Cosmos DB's 449, and every 5xx.
    Any other 4xx will be refused again."""
    return status is None or status in (408, 429, 449) or status >= 500
