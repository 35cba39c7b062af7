"""goodbye: answers both goodbyes and thanks, and forgets any question left open."""
from core.conversation import Conversation, Outcome
from core.ports import Services, Turn

BRANCH = "goodbye"
WELCOME = "You're welcome! Anything else I can help with?"
BYE = "Goodbye, and thanks for shopping with us!"


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    return Outcome(reply=WELCOME if turn.intent == "thanks" else BYE)
