"""The pipeline in memory: the app's own functions over the in-memory twins and a fake NLU.

Every Blueprint in blueprints/ is registered as function_app.py registers it, and each queue
message runs the function its queue triggers, with what it writes through an output binding put on
that binding's queue, as the functions host does. A branch without its Blueprint file has no
function on its queue, and the tests that route to it fail.
"""
from __future__ import annotations

from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage

import blueprints
from core import steps, wiring
from core.deps import Deps
from core.queues import TURNS_INCOMING
from devstack.host_workers import call
from switchboard.envelope import Envelope


def nlu_result(intent: str | None, confidence: float = 0.95, entities: list[tuple[str, str]] = (),
               out_of_scope: bool = False) -> dict[str, Any]:
    return {"model_version": "1.0.0", "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [], "out_of_scope": out_of_scope,
            "entities": [{"entity": e, "value": v, "start": 0, "end": 0, "confidence": 1.0} for e, v in entities]}


class FakeNlu:
    """Answers from a table of text -> parse result; anything else is out of scope."""

    def __init__(self) -> None:
        self.table: dict[str, dict] = {}
        self.calls = 0
        self.failures: list[Exception] = []

    def parse(self, text: str) -> dict:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.table.get(text) or nlu_result(None, 0.1, out_of_scope=True)


class Pipeline:
    """Runs queued messages through the functions they trigger, one at a time."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        wiring.use_deps(deps)  # what every function's get_deps() returns, until close()
        app = func.FunctionApp()
        blueprints.register_all(app)
        self.functions: dict[str, tuple[Any, str, dict[str, str]]] = {}  # queue -> function, arg, outputs
        self.http_functions: dict[str, tuple[Any, str, dict[str, str]]] = {}  # function name -> the same
        for function in app.get_functions():
            bindings = [b.get_dict_repr() for b in function.get_bindings()]
            trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
            outputs = {b["name"]: b["queueName"] for b in bindings if b["type"] == "queue"}
            if trigger["type"] == "queueTrigger":
                self.functions[trigger["queueName"]] = (function.get_user_function(), trigger["name"], outputs)
            else:
                self.http_functions[function.get_function_name()] = (function.get_user_function(), trigger["name"],
                                                                     outputs)

    def close(self) -> None:
        wiring.use_deps(None)

    def drain(self) -> list[tuple[str, str]]:
        """Process until every queue is empty but the poison queues; returns (queue, message) for each
        message run. A message on a queue no function listens on is an error (a missing Blueprint)."""
        done = []
        while True:
            stranded = [q for q, msgs in self.deps.queues.sent.items()
                        if msgs and q not in self.functions and not q.endswith("-poison")]
            if stranded:
                raise LookupError(f"no function is triggered by queue(s) {stranded}: is a Blueprint file missing?")
            pending = [(q, m) for q, msgs in self.deps.queues.sent.items() if q in self.functions for m in msgs]
            if not pending:
                return done
            for q in {q for q, _ in pending}:
                self.deps.queues.take(q)
            for i, (queue, message) in enumerate(pending):
                try:
                    self.run(queue, message)
                except Exception:  # as a queue would: the failed message and the rest come back later
                    for q, m in pending[i:]:
                        self.deps.queues.sent[q].append(m)
                    raise
                done.append((queue, message))

    def run(self, queue: str, message: str, dequeue_count: int = 1) -> None:
        """The function `queue` triggers, given `message` (on its `dequeue_count`th delivery); what it
        sets on an output binding is queued."""
        if queue not in self.functions:
            raise LookupError(f"no function is triggered by queue {queue!r}: is a Blueprint file missing?")
        function, arg, outputs = self.functions[queue]
        trigger = QueueMessage(body=message.encode(), dequeue_count=dequeue_count)
        _, values = call(function, list(outputs), {arg: trigger})
        for name, value in values.items():
            self.deps.queues.send(outputs[name], value)

    def http(self, name: str, request: func.HttpRequest) -> func.HttpResponse:
        """The HTTP-triggered function `name`, given `request`; what it sets on an output binding is queued."""
        function, arg, outputs = self.http_functions[name]
        response, values = call(function, list(outputs), {arg: request})
        for output, value in values.items():
            self.deps.queues.send(outputs[output], value)
        return response

    def accept(self, envelope: Envelope) -> None:
        self.deps.queues.send(TURNS_INCOMING, steps.accept(envelope, "test"))

    def say(self, text: str, conversation: str = "c1", message_id: str | None = None) -> Envelope:
        envelope = Envelope(turn_id=f"webchat:{conversation}:{message_id or text}", channel="webchat",
                            conversation_id=conversation, user_id="u1", text=text)
        self.accept(envelope)
        self.drain()
        return envelope

    def replies(self, conversation: str = "c1") -> list[str]:
        return [m["text"] for m in self.deps.outbox.after(conversation, 0)]
