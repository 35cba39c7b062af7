"""greeting: say hello and what the bot can do."""
from core.conversation import Conversation, Outcome
from core.ports import Services, Turn
from switchboard.templates import Template

BRANCH = "greeting"
REPLIES = {
    "hello": Template("Hi! I can track an order, find products, and answer questions about shipping, returns, "
                      "payment and store hours. What can I do for you?"),
}


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    return Outcome(reply=services.replies.text("hello"))
