"""POST /api/channels/sendbird/webhook: verify, acknowledge at once, queue the turn."""
import logging

import azure.functions as func

from core import sendbird, steps
from core.http import BadRequest, error, json_object, json_response, raw_body
from core.queues import TURNS_INCOMING
from core.settings import get_settings
from switchboard.errors import PermanentError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="channels/sendbird/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="incoming", queue_name=TURNS_INCOMING, connection="AzureWebJobsStorage")
def sendbird_webhook(req: func.HttpRequest, incoming: func.Out[str]) -> func.HttpResponse:
    settings = get_settings()  # no Cosmos DB or NLU client: accepting a message needs only the queue
    try:
        body = raw_body(req)
        signature = req.headers.get("x-sendbird-signature")
        if not sendbird.signature_ok(body, settings.sendbird_api_token, signature):
            return error(401, "missing or wrong x-sendbird-signature")
        envelope = sendbird.to_envelope(json_object(body), settings.sendbird_bot_user_id)
    except BadRequest as e:
        return error(e.status, e.reason)
    except PermanentError as e:
        log.warning("refused a SendBird webhook: %s", e)
        return error(400, str(e))
    if isinstance(envelope, str):
        log.info("ignored a SendBird webhook: %s", envelope)
        return json_response(200, {"status": "ignored", "reason": envelope})
    incoming.set(steps.accept(envelope, "sendbird_webhook"))
    return json_response(200, {"status": "accepted", "turn_id": envelope.turn_id})
