"""Local stand-ins for the outside SaaS the bot talks to, one module each, speaking their protocols:

- `shop`: the shop API;
- `qna`: question answering, as Azure AI Language's custom question answering;
- `sendbird`: SendBird's bot send API;
- `webchat`: the web chat page (the customer's side of the web chat channel);
- `appinsights`: Application Insights' track endpoint (the telemetry tests and the cost benchmark).

`python -m devstack.standins` serves the first four from one process. Their data are the JSON files in
devstack/data. Test hooks live under `/__standin/`.
"""
from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
_WORD = re.compile(r"[a-z0-9']+")
STOP = {"a", "an", "the", "i", "you", "your", "my", "do", "is", "are", "can", "to", "of", "on", "in",
        "what", "how", "when", "me", "it", "for", "we", "and", "or", "there", "any", "have", "does"}


def words(text: str) -> set[str]:
    """The words that carry meaning, for the shop's search and QnA's matching alike."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOP}
