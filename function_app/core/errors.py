"""The pipeline's error hierarchy.

Permanent failures (a payload that can never be processed) are recorded and acknowledged;
transient ones (timeouts, 5xx, 429, ETag conflicts that kept losing) are re-raised so that the
queue delivers the message again and, after `maxDequeueCount` attempts, parks it in `<queue>-poison`.
"""


class SwitchboardError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class SettingsError(SwitchboardError):
    """A setting is missing or invalid; raised once, at start-up."""


class PermanentError(SwitchboardError):
    """Retrying cannot help: the input is malformed or refers to something that does not exist."""


class TransientError(SwitchboardError):
    """A dependency failed in a way that may pass: the message should be retried."""


class ConflictError(TransientError):
    """An optimistic-concurrency write lost: the document changed since it was read."""
