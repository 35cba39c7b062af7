"""order_status: needs an order id; asks for it when missing and takes it from the next message."""
import re

from core.conversation import Conversation, Outcome, Pending
from core.ports import Services, Turn
from switchboard.templates import Template

BRANCH = "order_status"
SLOT = "order_id"
MAX_ASKS = 2
ORDER_ID = re.compile(r"\b([A-Za-z]{1,3}-?\d{3,8})\b")
REPLIES = {
    "ask": Template("Sure, what's your order number? It looks like A-1234."),
    "ask_again": Template("I couldn't find an order number in that. It looks like A-1234: could you send it again?"),
    "give_up": Template("I still can't find an order number, so let's leave it there. "
                        "Is there anything else I can do?"),
    "not_found": Template("I couldn't find order {order_id}. Could you check the number?", ("order_id",)),
    "not_found_give_up": Template("I couldn't find order {order_id} either. I still can't find an order number, "
                                  "so let's leave it there. Is there anything else I can do?", ("order_id",)),
    "found": Template("Order {order_id} is {status}.", ("order_id", "status")),
    "found_with_eta": Template("Order {order_id} is {status}, expected {eta}.", ("order_id", "status", "eta")),
}


def find_order_id(turn: Turn) -> str | None:
    """The model's entity first; a pattern match on the raw text covers a bare 'A-1234' reply."""
    value = turn.entity(SLOT)
    if value is None:
        match = ORDER_ID.search(turn.text)
        value = match.group(1) if match else None
    if value is None:
        return None
    value = value.strip().upper()
    if "-" not in value:  # "a1234" -> "A-1234"
        value = re.sub(r"^([A-Z]+)(\d+)$", r"\1-\2", value)
    return value


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    say = services.replies.text
    order_id = find_order_id(turn)
    pending = conversation.pending
    asked = pending.attempts if pending is not None and pending.slot == SLOT else 0
    if order_id is None:
        if asked >= MAX_ASKS:
            return Outcome(reply=say("give_up"))
        return Outcome(reply=say("ask_again" if asked else "ask"), ask=Pending(BRANCH, SLOT, asked + 1))
    order = services.shop.get_order(order_id)
    if order is None:
        if asked >= MAX_ASKS:
            return Outcome(reply=say("not_found_give_up", order_id=order_id))
        return Outcome(reply=say("not_found", order_id=order_id), ask=Pending(BRANCH, SLOT, asked + 1))
    if order.eta:
        reply = say("found_with_eta", order_id=order.order_id, status=order.status, eta=order.eta)
    else:
        reply = say("found", order_id=order.order_id, status=order.status)
    return Outcome(reply=reply, slots={SLOT: order.order_id})
