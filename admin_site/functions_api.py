"""The function app's HTTP endpoints the agent inbox calls (placeholder: the inbox builds this)."""
from __future__ import annotations

from admin_site.config import Config


def make_functions(config: Config):
    """The function app at `config.functions_url` (with the agent token), or an in-memory twin."""
    return None
