"""The pipeline wired in memory: the same steps as production, memory adapters, a fake NLU."""
from __future__ import annotations

import importlib
from typing import Any

from core import steps
from core.deps import Deps
from core.envelope import Envelope
from core.queues import TURNS_INCOMING, TURNS_OUTGOING
from core.routing import BRANCHES, queue_for


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
    """Runs queued messages through their steps, as the functions host does (one at a time); what a
    function writes through its output binding lands on that binding's queue."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.steps = {TURNS_INCOMING: steps.understand, TURNS_OUTGOING: steps.deliver}
        for branch in BRANCHES:
            logic = importlib.import_module(f"branches.{branch}")
            self.steps[queue_for(branch)] = (
                lambda env, d, logic=logic: steps.run_branch(env, d, logic.BRANCH, logic.handle))

    def drain(self, keep: bool = False) -> list[tuple[str, str]]:
        """Process until every queue is empty; returns (queue, message) for each step run."""
        done = []
        while True:
            pending = [(q, m) for q, msgs in self.deps.queues.sent.items() if q in self.steps for m in msgs]
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

    def run(self, queue: str, message: str) -> None:
        output = steps.handle_queue_message(message.encode(), queue, self.deps, self.steps[queue])
        if output is not None:  # only branches have an output binding (to turns-outgoing)
            self.deps.queues.send(TURNS_OUTGOING, output)

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
