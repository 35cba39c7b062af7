"""The Blueprint of one intent branch: a queue trigger on `intent-<branch>` running the branch's logic,
with the reply written to `turns-outgoing` through a queue output binding."""
import azure.functions as func

from core import steps
from core.queues import MAX_DEQUEUE_COUNT, TURNS_OUTGOING, queue_for
from core.wiring import get_deps


def branch_blueprint(logic: steps.Branch) -> func.Blueprint:
    """`logic` is the branch's pure module: `BRANCH` (its name), `REPLIES` and `handle(turn,
    conversation, services)`."""
    bp = func.Blueprint()
    queue = queue_for(logic.BRANCH)

    @bp.function_name(f"intent_{logic.BRANCH}")
    @bp.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    @bp.queue_output(arg_name="outgoing", queue_name=TURNS_OUTGOING, connection="AzureWebJobsStorage")
    def intent(msg: func.QueueMessage, outgoing: func.Out[str]) -> None:
        last = (msg.dequeue_count or 1) >= MAX_DEQUEUE_COUNT

        def run(envelope, deps) -> str | None:
            return steps.run_branch(envelope, deps, logic, last_attempt=last)
        reply = steps.handle_queue_message(msg.get_body(), queue, get_deps(), run)
        if reply is not None:
            outgoing.set(reply)

    return bp
