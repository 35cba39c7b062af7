"""greeting: say hello and what the bot can do."""
from core.conversation import Conversation, Outcome
from core.ports import Services, Turn

BRANCH = "greeting"
HELLO = ("Hi! I can track an order, find products, and answer questions about shipping, returns, "
         "payment and store hours. What can I do for you?")


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    return Outcome(reply=HELLO)
