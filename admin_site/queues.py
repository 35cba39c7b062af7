"""The queues as the poison page sees them (placeholder: the poison-queue page builds this)."""
from __future__ import annotations

from admin_site.config import Config


def make_queues(config: Config):
    """Storage queues from `config.storage_connection`, or their in-memory twin without one."""
    return None
