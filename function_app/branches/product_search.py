"""product_search: product, brand and colour entities go to the shop's search; the top 3 come back."""
from core.conversation import Conversation, Outcome, Pending
from core.ports import Product, Services, Turn
from switchboard.templates import Template

BRANCH = "product_search"
TOP = 3
REPLIES = {
    "ask": Template("What are you looking for? For example: blue running shoes from Nike."),
    "nothing": Template("Sorry, I found nothing for {wanted}. Try another colour or brand?", ("wanted",)),
    "found": Template("Here's what I found for {wanted}:", ("wanted",)),
}


def describe(product: Product) -> str:
    return f"{product.name} ({product.brand}, {product.colour}) - ${product.price:.2f}"


def handle(turn: Turn, conversation: Conversation, services: Services) -> Outcome:
    query, brand, colour = turn.entity("product"), turn.entity("brand"), turn.entity("colour")
    answering = conversation.pending is not None and conversation.pending.branch == BRANCH
    if not (query or brand or colour):
        if not answering:
            return Outcome(reply=services.replies.text("ask"), ask=Pending(BRANCH, "product"))
        query = turn.text.strip()  # the answer to "what are you looking for?" is the query itself
    found = services.shop.search_products(query=query, brand=brand, colour=colour, limit=TOP)
    wanted = " ".join(x for x in (colour, brand, query) if x)
    if not found:
        return Outcome(reply=services.replies.text("nothing", wanted=wanted))
    lines = [services.replies.text("found", wanted=wanted)]
    lines += [f"{i}. {describe(p)}" for i, p in enumerate(found[:TOP], 1)]
    return Outcome(reply="\n".join(lines))
