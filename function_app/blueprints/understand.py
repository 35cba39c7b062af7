"""understand (turns-incoming): NLU parse, conversation state, routing to intent-<branch>."""
import azure.functions as func

from core import steps
from core.queues import TURNS_INCOMING
from core.wiring import get_deps

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=TURNS_INCOMING, connection="AzureWebJobsStorage")
def understand(msg: func.QueueMessage) -> None:
    steps.handle_queue_message(msg.get_body(), TURNS_INCOMING, get_deps(), steps.understand)
