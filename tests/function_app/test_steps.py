"""Every step is idempotent on turn_id; permanent failures are parked, transient ones re-raised."""
import json
import threading

import pytest

from core import steps
from core.conversation import Conversation
from core.queues import MAX_DEQUEUE_COUNT, TURNS_INCOMING, TURNS_OUTGOING, queue_for
from core.stores import update_conversation
from helpers import ROOT
from pipeline import nlu_result
from switchboard.envelope import Envelope
from switchboard.errors import PermanentError, TransientError


def test_every_message_delivered_twice_gives_one_reply_and_one_state_change(pipeline, deps):
    deps.nlu.table["where is my order?"] = nlu_result("order_status")
    envelope = Envelope(turn_id="webchat:c1:m1", channel="webchat", conversation_id="c1", user_id="u1",
                        text="where is my order?")
    pipeline.accept(envelope)
    for queue in (TURNS_INCOMING, queue_for("order_status"), TURNS_OUTGOING):
        messages = deps.queues.take(queue)
        assert messages, f"nothing reached {queue}"
        for message in messages * 2:  # at-least-once: every message arrives twice
            pipeline.run(queue, message)
    assert len(deps.outbox.after("c1", 0)) == 1 and len(deps.channels["webchat"].sent) == 1
    conversation = deps.conversations.load("c1")
    assert conversation.message_count == 1 and conversation.pending.attempts == 1


def test_the_same_turn_accepted_three_times_is_answered_once(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    for _ in range(3):
        pipeline.say("hi", message_id="m-1")
    assert len(pipeline.replies()) == 1
    assert deps.conversations.load("c1").message_count == 1


def test_an_envelope_that_is_not_json_is_parked_in_poison(deps):
    steps.handle_queue_message(b"{not json", TURNS_INCOMING, deps, steps.understand)
    assert deps.queues.sent[f"{TURNS_INCOMING}-poison"] == ["{not json"]


def test_a_transient_failure_is_raised_for_the_queue_to_retry(pipeline, deps):
    deps.nlu.failures.append(TransientError("NLU answered 503"))
    envelope = Envelope(turn_id="t1", channel="webchat", conversation_id="c1", user_id="u", text="hi")
    with pytest.raises(TransientError):
        steps.handle_queue_message(envelope.to_json().encode(), TURNS_INCOMING, deps, steps.understand)
    assert not deps.queues.sent.get(f"{TURNS_INCOMING}-poison")
    steps.handle_queue_message(envelope.to_json().encode(), TURNS_INCOMING, deps, steps.understand)
    assert len(deps.queues.sent[queue_for("faq")]) == 1


def test_a_reply_whose_sending_failed_is_sent_on_redelivery(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    deps.channels["webchat"].failures.append(TransientError("channel down"))
    with pytest.raises(TransientError):
        pipeline.say("hi")
    assert pipeline.replies() == []
    pipeline.drain()  # the queue delivers the message again
    assert len(pipeline.replies()) == 1


def test_concurrent_updates_of_one_conversation_keep_both(deps):
    def new():
        return Conversation("c1", "webchat", "u")

    barrier = threading.Barrier(8)

    def add(i):
        barrier.wait()
        for j in range(10):
            update_conversation(deps.conversations, new, lambda c, j=j: c.record_turn(f"t{i}-{j}", "greeting"))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert deps.conversations.load("c1").message_count == 80


def test_the_turn_log_keeps_message_nlu_branch_reply_and_timings(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("hi")
    log = deps.turn_log.get("c1", "webchat:c1:hi")
    assert log["status"] == "delivered" and log["branch"] == "greeting" and log["text"] == "hi"
    assert log["nlu"]["intent"]["name"] == "greeting" and log["reply"].startswith("Hi!")
    assert {"test", "understand", "intent_greeting", "deliver", "end_to_end"} <= set(log["timings"])


def test_one_trace_runs_through_every_step(pipeline, deps):
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from core.telemetry import SERVICE
    from switchboard import telemetry

    # the process's provider, once (loading function_app.py may have done it)
    telemetry.configure(SERVICE, always_trace=True)
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("hi", conversation="traced")
    trace.get_tracer_provider().force_flush()
    spans = [s for s in exporter.get_finished_spans()
             if s.attributes["switchboard.conversation_id"] == "traced"]
    assert [s.name for s in spans] == ["test", "understand", "intent_greeting", "deliver"]
    assert len({s.context.trace_id for s in spans}) == 1
    for parent, child in zip(spans, spans[1:]):
        assert child.parent.span_id == parent.context.span_id


# ---- permanent failures: the customer hears once, the turn log keeps the reason -------------------
def test_an_api_refusing_the_turn_for_good_gets_one_apology_and_the_reason_logged(pipeline, deps, shop):
    deps.nlu.table["where is A-1234"] = nlu_result("order_status", entities=[("order_id", "A-1234")])
    shop.failures.append(PermanentError("the shop API answered 400: bad order id"))
    envelope = pipeline.say("where is A-1234")
    assert pipeline.replies() == [steps.FAILED_REPLY]
    logged = deps.turn_log.get("c1", envelope.turn_id)
    assert logged["status"] == "failed" and "the shop API answered 400" in logged["error"]
    assert not deps.queues.sent.get(f"{queue_for('order_status')}-poison")
    # the branch's message delivered again: the outcome is remembered, the shop is not asked again
    pipeline.run(queue_for("order_status"), Envelope(**{**envelope.__dict__, "nlu": deps.nlu.table[envelope.text],
                                                        "branch": "order_status"}).to_json())
    pipeline.drain()
    assert pipeline.replies() == [steps.FAILED_REPLY] and len(deps.channels["webchat"].sent) == 1


def test_an_api_that_stays_down_is_retried_then_the_customer_is_told_on_the_last_attempt(pipeline, deps, shop):
    deps.nlu.table["where is A-1234"] = nlu_result("order_status", entities=[("order_id", "A-1234")])
    envelope = Envelope(turn_id="webchat:c1:down", channel="webchat", conversation_id="c1", user_id="u1",
                        text="where is A-1234", nlu=deps.nlu.table["where is A-1234"], branch="order_status")
    queue = queue_for("order_status")
    for attempt in range(1, MAX_DEQUEUE_COUNT):  # the host delivers it again after each failure
        shop.failures.append(TransientError("the shop API timed out"))
        with pytest.raises(TransientError):
            pipeline.run(queue, envelope.to_json(), dequeue_count=attempt)
    assert pipeline.replies() == []
    shop.failures.append(TransientError("the shop API timed out"))
    pipeline.run(queue, envelope.to_json(), dequeue_count=MAX_DEQUEUE_COUNT)  # the last: no poison
    pipeline.drain()
    assert pipeline.replies() == [steps.UNAVAILABLE_REPLY]
    assert "gave up after 5 attempts: the shop API timed out" in deps.turn_log.get("c1", envelope.turn_id)["error"]
    assert not deps.queues.sent.get(f"{queue}-poison")


def test_the_last_attempt_is_host_json_s_max_dequeue_count():
    host = json.loads((ROOT / "function_app" / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == MAX_DEQUEUE_COUNT


def test_the_nlu_service_refusing_the_text_gets_one_apology_and_no_state_change(pipeline, deps):
    deps.nlu.failures.append(PermanentError("the NLU service answered 400: text is empty"))
    envelope = pipeline.say("\u200b")
    assert pipeline.replies() == [steps.FAILED_REPLY]
    assert deps.turn_log.get("c1", envelope.turn_id)["error"].startswith("the NLU service answered 400")
    assert deps.conversations.load("c1") is None


def test_a_transient_api_failure_is_retried_by_the_queue_not_apologised_for(pipeline, deps, shop):
    deps.nlu.table["blue shoes"] = nlu_result("product_search", entities=[("product", "shoes")])
    shop.failures.append(TransientError("the shop API answered 503"))
    with pytest.raises(TransientError):
        pipeline.say("blue shoes")
    pipeline.drain()  # the queue delivers it again
    assert pipeline.replies()[0].startswith("Here's what I found for shoes")


def test_a_channel_refusing_for_good_parks_the_reply_with_the_reason_in_the_turn_log(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    deps.channels["webchat"].failures.append(PermanentError("SendBird answered HTTP 400, code 400401"))
    envelope = pipeline.say("hi")
    parked = deps.queues.sent[f"{TURNS_OUTGOING}-poison"]
    assert len(parked) == 1 and Envelope.from_json(parked[0]).reply.startswith("Hi!")
    logged = deps.turn_log.get("c1", envelope.turn_id)
    assert logged["status"] == "parked" and "code 400401" in logged["error"]
    assert pipeline.replies() == []


def test_the_function_app_never_sends_the_nlu_service_more_text_than_it_accepts(pipeline, deps):
    from inference_container.app import MAX_TEXT_CHARS as NLU_LIMIT
    from switchboard.envelope import MAX_TEXT_CHARS

    seen = []
    deps.nlu.parse = lambda text: seen.append(text) or nlu_result("greeting")
    pipeline.say("x" * (NLU_LIMIT + 500))
    assert len(seen[0]) == MAX_TEXT_CHARS <= NLU_LIMIT
