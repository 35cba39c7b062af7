"""Publishing QnA pairs to question answering (placeholder: the QnA page builds this)."""
from __future__ import annotations

from admin_site.config import Config


def make_publisher(config: Config):
    """Azure AI Language's authoring API at `config.qna_endpoint`, or an in-memory twin."""
    return None
