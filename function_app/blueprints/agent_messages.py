"""POST /api/conversations/{conversation_id}/messages: an agent answers a handed-off conversation.

The message becomes a turn of its own (`agent:<conversation>:<message_id>`, branch "agent") put on
`turns-outgoing`, so `deliver` sends it through the conversation's channel adapter like any reply
of the bot (SendBird with `dedup_id` = turn id, or the web chat outbox) and the turn log records
it. The agent tool chooses `message_id` once per message it composes: sending it twice is one
message to the customer.
"""
import hmac
import logging

import azure.functions as func

from core import steps
from core.http import BadRequest, error, json_object, json_response, raw_body
from core.queues import TURNS_OUTGOING
from core.settings import get_settings
from core.wiring import get_deps
from switchboard.envelope import MAX_TEXT_CHARS, Envelope, check_id
from switchboard.errors import PermanentError, SwitchboardError
from switchboard.turns import AGENT, SENDBIRD

bp = func.Blueprint()
log = logging.getLogger(__name__)
MAX_AGENT_NAME = 100


def _message(data: dict) -> tuple[str, str, str]:
    """(message_id, text, agent) from the body, or BadRequest naming the field."""
    text, agent = data.get("text"), data.get("agent")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(400, "'text' must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(400, f"'text' is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    if not isinstance(agent, str) or not agent.strip() or len(agent) > MAX_AGENT_NAME:
        raise BadRequest(400, f"'agent' must be the agent's name, 1-{MAX_AGENT_NAME} characters")
    try:
        message_id = check_id("'message_id'", data.get("message_id"))
    except PermanentError as e:
        raise BadRequest(400, str(e)) from e
    return message_id, text, agent.strip()


@bp.route(route="conversations/{conversation_id}/messages", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="outgoing", queue_name=TURNS_OUTGOING, connection="AzureWebJobsStorage")
def agent_message(req: func.HttpRequest, outgoing: func.Out[str]) -> func.HttpResponse:
    token = req.headers.get("x-agent-token") or ""
    if not hmac.compare_digest(token.encode(), get_settings().agent_api_token.encode()):
        return error(401, "missing or wrong x-agent-token")
    try:
        conversation_id = check_id("conversation id", req.route_params.get("conversation_id"))
        message_id, text, agent = _message(json_object(raw_body(req)))
        turn_id = check_id("turn id", f"agent:{conversation_id}:{message_id}")
    except BadRequest as e:
        return error(e.status, e.reason)
    except PermanentError as e:
        return error(400, str(e))
    try:
        conversation = get_deps().conversations.load(conversation_id)
    except SwitchboardError as e:
        log.error("agent message for %s: could not read the conversation: %s", conversation_id, e)
        return error(503, f"could not read conversation {conversation_id}: {e}")
    if conversation is None:
        return error(404, f"no conversation {conversation_id}")
    if not conversation.handoff:
        return error(409, f"conversation {conversation_id} is not handed off to an agent: the bot answers it")
    channel_data = {"channel_url": conversation_id} if conversation.channel == SENDBIRD else {}
    envelope = Envelope(turn_id=turn_id, channel=conversation.channel, conversation_id=conversation_id,
                        user_id=conversation.user_id, text="", channel_data={**channel_data, "agent": agent},
                        branch=AGENT, reply=text)
    outgoing.set(steps.accept(envelope, "agent_message"))
    log.info("agent %s answered conversation %s (turn %s)", agent, conversation_id, turn_id)
    return json_response(202, {"conversation_id": conversation_id, "turn_id": turn_id})
