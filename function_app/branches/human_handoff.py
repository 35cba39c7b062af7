"""human_handoff: hands the conversation to a person; the bot stays silent until an agent releases it.

Also answers the fallback branch's offer ("shall I connect you with a person?"), which arrives here
as the pending slot `confirm`.
"""
from core.conversation import Conversation, Outcome
from core.ports import Services, Turn
from switchboard.templates import Template
from switchboard.turns import HUMAN_HANDOFF

BRANCH = HUMAN_HANDOFF
CONFIRM_SLOT = "confirm"
REPLIES = {
    "handing_off": Template("I'm connecting you with a colleague; they will reply here shortly."),
    "declined": Template("No problem. What else can I help you with?"),
}


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    confirming = conversation.pending is not None and conversation.pending.slot == CONFIRM_SLOT
    if confirming and turn.intent != "affirm":
        return Outcome(reply=services.replies.text("declined"))
    return Outcome(reply=services.replies.text("handing_off"), handoff=True)
