"""goodbye: answers both goodbyes and thanks, and forgets any question left open."""
from core.conversation import Conversation, Outcome
from core.ports import Services, Turn
from switchboard.templates import Template

BRANCH = "goodbye"
REPLIES = {
    "welcome": Template("You're welcome! Anything else I can help with?"),
    "bye": Template("Goodbye, and thanks for shopping with us!"),
}


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    return Outcome(reply=services.replies.text("welcome" if turn.intent == "thanks" else "bye"))
