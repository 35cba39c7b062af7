"""The web chat channel, open to the internet: POST a new conversation (its id and token); POST a
customer's message and GET the bot's replies after a cursor, each with the conversation's token.

`core.webchat.WebchatGuard` decides who may: the token must be the conversation's, and messages and
new conversations are rate-limited (429 with Retry-After).
"""
import math
import uuid

import azure.functions as func

from core import steps
from core.http import BadRequest, error, json_object, json_response, raw_body
from core.queues import TURNS_INCOMING
from core.webchat import Refused
from core.wiring import get_deps
from switchboard.envelope import MAX_TEXT_CHARS, Envelope, check_id
from switchboard.errors import PermanentError
from switchboard.turns import WEBCHAT

bp = func.Blueprint()


def _envelope(data: dict) -> Envelope:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(400, "'text' must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(400, f"'text' is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    if not data.get("conversation_id"):
        raise BadRequest(400, "'conversation_id' is required: POST /api/channels/webchat/conversations "
                              "issues one, with its token")
    try:
        conversation_id = check_id("'conversation_id'", data["conversation_id"])
        message_id = check_id("'message_id'", data.get("message_id") or uuid.uuid4().hex)
    except PermanentError as e:
        raise BadRequest(400, str(e)) from e
    return Envelope(turn_id=f"{WEBCHAT}:{conversation_id}:{message_id}", channel=WEBCHAT,
                    conversation_id=conversation_id, user_id=f"web:{conversation_id}", text=text)


def _refusal(refused: Refused) -> func.HttpResponse:
    if refused.retry_after is not None:
        return error(refused.status, refused.reason, {"Retry-After": str(refused.retry_after)},
                     retry_after=refused.retry_after)
    return error(refused.status, refused.reason, {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None)


@bp.route(route="channels/webchat/conversations", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def webchat_conversations(req: func.HttpRequest) -> func.HttpResponse:
    try:
        issued = get_deps().webchat.open_conversation(req.headers.get("x-forwarded-for"))
    except Refused as e:
        return _refusal(e)
    return json_response(201, issued)


@bp.route(route="channels/webchat/messages", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="incoming", queue_name=TURNS_INCOMING, connection="AzureWebJobsStorage")
def webchat_messages(req: func.HttpRequest, incoming: func.Out[str]) -> func.HttpResponse:
    try:
        envelope = _envelope(json_object(raw_body(req)))
        get_deps().webchat.admit_message(envelope.conversation_id, req.headers.get("authorization"),
                                         req.headers.get("x-forwarded-for"))
    except BadRequest as e:
        return error(e.status, e.reason)
    except Refused as e:
        return _refusal(e)
    incoming.set(steps.accept(envelope, "webchat_messages"))
    return json_response(202, {"conversation_id": envelope.conversation_id, "turn_id": envelope.turn_id})


@bp.route(route="channels/webchat/conversations/{conversation_id}/messages", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
def webchat_replies(req: func.HttpRequest) -> func.HttpResponse:
    try:
        conversation_id = check_id("conversation id", req.route_params.get("conversation_id"))
        after = float(req.params.get("after") or 0)
        if not math.isfinite(after):  # NaN or infinity: no cursor, and no valid JSON in the answer
            raise ValueError(after)
        get_deps().webchat.admit_reader(conversation_id, req.headers.get("authorization"))
    except PermanentError as e:
        return error(400, str(e))
    except ValueError:
        return error(400, "'after' must be a number (the cursor of the previous answer)")
    except Refused as e:
        return _refusal(e)
    messages = get_deps().outbox.after(conversation_id, after)
    replies = [{"id": m["id"], "text": m["text"], "created": m["created"]} for m in messages]
    return json_response(200, {"messages": replies, "cursor": replies[-1]["created"] if replies else after})
