"""The steps of a chat turn, each idempotent on `turn_id`. Blueprints decode their trigger and call one.

The turn log gets one document per turn, written by the step that ends the turn (deliver, or a step
that has nothing to send): message, NLU result, branch, reply and every step's timing travel in the
envelope until then. A turn that fails for good is kept, whole, in its step's poison queue.

Delivering any queue message again repeats no state change and sends no second reply:
understand remembers the branch it chose for a turn, a branch remembers its outcome, and delivery
is deduplicated by the outbox and by SendBird's `dedup_id`.

When an outside service refuses a turn for good (the NLU service or a branch's API answering a 4xx
other than 408/429), the customer gets `FAILED_REPLY` instead of silence, and the turn log keeps the
reason. Any other permanent failure (a malformed envelope, a channel or Cosmos DB refusing) parks
the message in its queue's poison queue, with the reason in the turn log when the envelope names a
turn.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from core import telemetry
from core.catalogue import Replies
from core.conversation import Conversation, Outcome
from core.deps import Deps
from core.ports import Services, Turn
from core.queues import MAX_DEQUEUE_COUNT, TURNS_OUTGOING, poison_queue, queue_for
from core.routing import route
from core.stores import Unchanged, update_conversation
from switchboard import turns
from switchboard.envelope import MAX_TEXT_CHARS, Envelope, now_ms
from switchboard.errors import PermanentError, SwitchboardError, TransientError
from switchboard.templates import Template

log = logging.getLogger(__name__)


class Branch(Protocol):
    """A branch's pure module (branches/<name>.py); its names are read, never assigned."""
    @property
    def BRANCH(self) -> str: ...

    @property
    def REPLIES(self) -> Mapping[str, Template]: ...

    def handle(self, turn: Turn, conversation: Conversation, services: Services) -> Outcome: ...

FAILED_REPLY = "Sorry, something went wrong on our side. Please try again in a moment."
UNAVAILABLE_REPLY = "Sorry, I can't reach that information right now. Please ask me again in a few minutes."


def accept(envelope: Envelope, step_name: str) -> str:
    """A channel accepted a message: start the turn's trace; returns the message for `turns-incoming`
    (the channel's function writes it through its queue output binding)."""
    started = time.perf_counter()
    with telemetry.step(step_name, envelope, server=True):
        envelope.timed(step_name, started)
        return envelope.to_json()


def _new_conversation(envelope: Envelope) -> Callable[[], Conversation]:
    return lambda: Conversation(envelope.conversation_id, envelope.channel, envelope.user_id)


def understand(envelope: Envelope, deps: Deps) -> None:
    """Parse, record the turn on the conversation, route it, queue it on its branch's queue."""
    started = time.perf_counter()
    with telemetry.step("understand", envelope) as span:
        if envelope.nlu is None:
            try:
                envelope.nlu = deps.nlu.parse(envelope.text[:MAX_TEXT_CHARS])
            except PermanentError as e:  # it will refuse this text again: say sorry, change nothing
                log.error("turn %s: %s", envelope.turn_id, e)
                envelope.error, envelope.reply = str(e), FAILED_REPLY
                envelope.timed("understand", started)
                deps.queues.send(TURNS_OUTGOING, envelope.to_json())
                return
        turn = Turn.from_nlu(envelope.turn_id, envelope.text, envelope.nlu)
        routes = deps.catalogue.current().routes

        def record(conversation: Conversation):
            if conversation.has_turn(turn.turn_id):  # a redelivery: route it the way we did before
                return Unchanged(conversation.routed_branch(turn.turn_id))
            branch = route(turn, conversation, deps.min_confidence, routes)
            conversation.record_turn(turn.turn_id, branch)
            return branch

        _, branch = update_conversation(deps.conversations, _new_conversation(envelope), record)
        envelope.branch = branch
        telemetry.understood(span, envelope)
        envelope.timed("understand", started)
        if branch:
            deps.queues.send(queue_for(branch), envelope.to_json())
        else:  # the turn ends here: log it (a routed turn is logged by the step that ends it)
            deps.turn_log.record(envelope, turns.SILENT)


def run_branch(envelope: Envelope, deps: Deps, logic: Branch, last_attempt: bool = False) -> str | None:
    """Apply the branch's outcome once. Returns the message for `turns-outgoing` when there is a reply
    (written through the branch's output binding); a turn handed to another branch is queued here.

    An API the branch needs (the shop, QnA) that keeps failing is retried with the message, and on
    its last attempt (`last_attempt`: the one after which it would be parked) the customer is told
    it cannot be answered now, instead of waiting in a poison queue for an operator."""
    started = time.perf_counter()
    branch = logic.BRANCH
    with telemetry.step(f"intent_{branch}", envelope):
        turn = Turn.from_nlu(envelope.turn_id, envelope.text, envelope.nlu)
        texts = deps.catalogue.current().replies.get(branch, {})
        services = dataclasses.replace(deps.services, replies=Replies(logic.REPLIES, texts))

        def decide(conversation: Conversation):
            done = conversation.outcome_of(turn.turn_id, branch)
            if done is not None:
                return Unchanged(done)
            try:
                outcome = logic.handle(turn, conversation, services)
            except PermanentError as e:  # an API refused the turn for good: say sorry, once
                log.error("turn %s, branch %s: %s", turn.turn_id, branch, e)
                outcome = Outcome(reply=FAILED_REPLY, error=str(e))
            except TransientError as e:
                if not last_attempt:
                    raise  # the host retries the message
                log.error("turn %s, branch %s: gave up after %d attempts: %s", turn.turn_id, branch,
                          MAX_DEQUEUE_COUNT, e)
                outcome = Outcome(reply=UNAVAILABLE_REPLY, error=f"gave up after {MAX_DEQUEUE_COUNT} attempts: {e}")
            conversation.apply(turn.turn_id, branch, outcome)
            return outcome

        _, outcome = update_conversation(deps.conversations, _new_conversation(envelope), decide)
        envelope.timed(f"intent_{branch}", started)
        if outcome.forward:
            envelope.branch = outcome.forward
            deps.queues.send(queue_for(outcome.forward), envelope.to_json())
            return None
        envelope.branch, envelope.reply, envelope.error = branch, outcome.reply, outcome.error
        if outcome.reply:
            return envelope.to_json()
        deps.turn_log.record(envelope, turns.NO_REPLY)
        return None


def deliver(envelope: Envelope, deps: Deps) -> None:
    """Send the reply through its channel, once; the outbox keeps every reply sent."""
    started = time.perf_counter()
    with telemetry.step("deliver", envelope) as span:
        if envelope.reply is None:
            raise PermanentError(f"turn {envelope.turn_id} reached deliver without a reply")
        channel = deps.channels.get(envelope.channel)
        if channel is None:
            raise PermanentError(f"unknown channel {envelope.channel!r}")
        sent = deps.outbox.get(envelope.conversation_id, envelope.turn_id)
        if sent is not None:
            log.info("turn %s was already delivered", envelope.turn_id)
            return
        channel.send(envelope)
        envelope.timed("deliver", started)
        envelope.timings["end_to_end"] = round(now_ms() - envelope.received_at, 3)
        telemetry.delivered(span, envelope)
        deps.outbox.put({"id": envelope.turn_id, "conversation_id": envelope.conversation_id,
                         "channel": envelope.channel, "text": envelope.reply, "created": now_ms()})
        deps.turn_log.record(envelope, turns.FAILED if envelope.error else turns.DELIVERED)


def handle_queue_message(body: bytes, queue: str, deps: Deps,
                         step: Callable[[Envelope, Deps], str | None]) -> str | None:
    """Decode a queue message and run its step, returning what the step returns. A permanent failure
    is parked in `<queue>-poison` at once, with the reason logged (and kept in the turn log when the
    envelope names a turn); anything else propagates so the host retries the message."""
    text = body.decode("utf-8", errors="replace")
    envelope = None
    try:
        envelope = Envelope.from_json(text)
        return step(envelope, deps)
    except PermanentError as e:
        log.error("parking a message of %s in %s: %s", queue, poison_queue(queue), e)
        deps.queues.send(poison_queue(queue), text)
        if envelope is not None:
            _log_parked(envelope, deps, f"parked in {poison_queue(queue)}: {e}")
        return None


def _log_parked(envelope: Envelope, deps: Deps, reason: str) -> None:
    """The parked message is whole in the poison queue; the turn log's note of it is a courtesy
    that the store behind it (perhaps the very thing that failed) may refuse."""
    envelope.error = reason
    try:
        deps.turn_log.record(envelope, turns.PARKED)
    except SwitchboardError as e:
        log.warning("turn %s: could not log the parking: %s", envelope.turn_id, e)
