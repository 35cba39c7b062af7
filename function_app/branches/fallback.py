"""fallback: the bot did not understand; after 2 in a row it offers a person."""
from core.conversation import Conversation, Outcome, Pending
from core.ports import Services, Turn
from switchboard.templates import Template
from switchboard.turns import HUMAN_HANDOFF

BRANCH = "fallback"
OFFER_AFTER = 2
REPLIES = {
    "sorry": Template("Sorry, I didn't get that. I can track an order, find products, or answer questions about "
                      "shipping, returns, payment and store hours."),
    "offer": Template("Sorry, I'm still not getting it. Would you like me to connect you with a person?"),
}


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    if conversation.fallback_count + 1 >= OFFER_AFTER:
        return Outcome(reply=services.replies.text("offer"), ask=Pending(HUMAN_HANDOFF, "confirm"), fallback=True)
    return Outcome(reply=services.replies.text("sorry"), fallback=True)
