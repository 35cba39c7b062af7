"""faq: asks the knowledge base; when it has no confident answer the turn goes on to fallback."""
from core.conversation import Conversation, Outcome
from core.ports import Services, Turn

BRANCH = "faq"
NEXT = "fallback"
REPLIES = {}  # the knowledge base's answers are the replies (the admin site's QnA page)


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    answer = services.qna.ask(turn.text)
    if answer is None or answer.confidence < services.qna_min_confidence:
        return Outcome(forward=NEXT)
    return Outcome(reply=answer.text)
