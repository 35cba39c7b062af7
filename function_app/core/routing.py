"""Which branch answers a turn. Pure: the routing table is data, `route` a function over plain values.

`ROUTES` are the code's defaults; the catalogue's routes (what admins set in the admin site, passed
in per turn) add to and override them. Adding a branch is one default entry here (intent -> branch)
plus its Blueprint file; its queue is `core.queues.queue_for(branch)`.
"""
from __future__ import annotations

from collections.abc import Mapping

from core.conversation import Conversation
from core.ports import Turn
from switchboard.turns import FALLBACK, HUMAN_HANDOFF

FAQ = "faq"

ROUTES: dict[str, str] = {
    "greeting": "greeting",
    "goodbye": "goodbye",
    "thanks": "goodbye",
    "order_status": "order_status",
    "cancel_order": HUMAN_HANDOFF,
    "product_search": "product_search",
    "payment_methods": FAQ,
    "returns_policy": FAQ,
    "shipping_info": FAQ,
    "store_hours": FAQ,
    "human_handoff": HUMAN_HANDOFF,
    "affirm": FALLBACK,
    "deny": FALLBACK,
}



def route(turn: Turn, conversation: Conversation, min_confidence: float,
          routes: Mapping[str, str | None] | None = None) -> str | None:
    """The branch for this turn, or None when a human agent has the conversation (the bot stays silent).
    An intent with no route (none in `routes` nor in `ROUTES`, or routed to None) goes to faq."""
    if conversation.handoff:
        return None
    if conversation.pending is not None:
        return conversation.pending.branch
    if turn.out_of_scope or turn.intent is None or turn.confidence < min_confidence:
        return FAQ  # the knowledge base may still know; faq forwards to fallback when it does not
    routes = routes or {}
    branch = routes[turn.intent] if turn.intent in routes else ROUTES.get(turn.intent)
    return branch or FAQ
