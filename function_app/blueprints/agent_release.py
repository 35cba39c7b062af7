"""POST /api/conversations/{conversation_id}/release: an agent hands the conversation back to the bot."""
import hmac

import azure.functions as func

from core.http import error, json_response
from core.settings import get_settings
from core.stores import Unchanged, update_conversation
from core.wiring import get_deps
from switchboard.envelope import check_id
from switchboard.errors import PermanentError

bp = func.Blueprint()


@bp.route(route="conversations/{conversation_id}/release", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
def agent_release(req: func.HttpRequest) -> func.HttpResponse:
    token = req.headers.get("x-agent-token") or ""
    if not hmac.compare_digest(token.encode(), get_settings().agent_api_token.encode()):
        return error(401, "missing or wrong x-agent-token")
    try:
        conversation_id = check_id("conversation id", req.route_params.get("conversation_id"))
    except PermanentError as e:
        return error(400, str(e))
    deps = get_deps()
    existing = deps.conversations.load(conversation_id)
    if existing is None:
        return error(404, f"no conversation {conversation_id}")

    def release(conversation):
        if not conversation.handoff:
            return Unchanged(False)
        conversation.handoff, conversation.pending = False, None
        return True

    _, changed = update_conversation(deps.conversations, lambda: existing, release)
    return json_response(200, {"conversation_id": conversation_id, "handoff": False, "changed": changed})
