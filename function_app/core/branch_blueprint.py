"""The Blueprint of one intent branch: a queue trigger on `intent-<branch>` running the branch's logic."""
from types import ModuleType

import azure.functions as func

from core import steps
from core.deps import get_deps
from core.routing import queue_for


def branch_blueprint(logic: ModuleType) -> func.Blueprint:
    """`logic` is the branch's pure module: `BRANCH` (its name) and `handle(turn, conversation, services)`."""
    bp = func.Blueprint()
    queue = queue_for(logic.BRANCH)

    def run(envelope, deps) -> None:
        steps.run_branch(envelope, deps, logic.BRANCH, logic.handle)

    @bp.function_name(f"intent_{logic.BRANCH}")
    @bp.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def intent(msg: func.QueueMessage) -> None:
        steps.handle_queue_message(msg.get_body(), queue, get_deps(), run)

    return bp
