"""deliver (turns-outgoing): the reply goes out through its channel adapter, once."""
import azure.functions as func

from core import steps
from core.queues import TURNS_OUTGOING
from core.wiring import get_deps

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=TURNS_OUTGOING, connection="AzureWebJobsStorage")
def deliver(msg: func.QueueMessage) -> None:
    steps.handle_queue_message(msg.get_body(), TURNS_OUTGOING, get_deps(), steps.deliver)
