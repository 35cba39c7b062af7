"""The poison queues page: every parked message with its envelope and its turn's status; re-queue and
discard for editors, audited; a customer's text escaped; a re-queued turn answered exactly once."""
from __future__ import annotations

import re

import pytest

import branches
from admin_site.queues import ParkedMessage, QueueError
from admin_site.views.poison import describe
from core.catalogue import CachedCatalogue
from core.deps import Deps
from core.memory import (
    MemoryCatalogue,
    MemoryChannel,
    MemoryConversationStore,
    MemoryOutbox,
    MemoryQna,
    MemoryQueues,
    MemoryShop,
    MemoryTurnLog,
)
from core.ports import Services
from core.queues import TURNS_OUTGOING
from core.ratelimit import Limit, MemoryCounters
from core.webchat import WebchatGuard, WebchatLimits
from pipeline import FakeNlu, Pipeline
from switchboard.envelope import Envelope
from switchboard.errors import PermanentError

SCRIPT = "<script>alert('pwned')</script>"
POISON = "turns-outgoing-poison"


def envelope(turn: str = "webchat:c1:m1", text: str = f"where is my order? {SCRIPT}") -> Envelope:
    return Envelope(turn_id=turn, channel="webchat", conversation_id="c1", user_id="web:c1", text=text,
                    branch="order_status", reply="Which order?", received_at=1_700_000_000_000.0)


@pytest.fixture
def parked(services):
    """One envelope parked by deliver (its turn logged as parked), one message that is no envelope."""
    env = envelope()
    services.documents["turns"].upsert({"id": env.turn_id, "conversation_id": "c1", "status": "parked",
                                        "error": "parked in turns-outgoing-poison: SendBird answered 400",
                                        "received_at": 1.0, "updated_at": 2.0})
    good = services.queues.park(POISON, env.to_json())
    bad = services.queues.park("turns-incoming-poison", f"{{not json {SCRIPT}")
    return good.id, bad.id


def test_every_poison_queue_is_listed_with_its_count_and_the_total_in_the_nav(client_as, services, parked):
    services.queues.park("intent-faq", "live traffic, not parked")
    page = client_as("viewer").get("/poison/").get_data(as_text=True)
    assert "turns-incoming-poison" in page and POISON in page and "intent-faq<" not in page
    assert page.count("1 parked") == 2
    assert re.search(r'data-count="poison">2<', page)


def test_a_parked_envelope_is_shown_escaped_with_its_turns_status_and_dequeue_count(client_as, parked):
    page = client_as("viewer").get("/poison/").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in page and SCRIPT not in page and "<script>" not in page
    assert "webchat:c1:m1" in page and ">parked<" in page and "SendBird answered 400" in page
    assert "&#34;turn_id&#34;: &#34;webchat:c1:m1&#34;" in page  # pretty JSON, one field a line
    assert "dequeued 0×" in page


def test_a_message_that_is_no_envelope_is_shown_raw_and_can_only_be_discarded(client_as, services, parked):
    good, bad = parked
    page = client_as("editor").get("/poison/").get_data(as_text=True)
    assert "{not json &lt;script&gt;" in page and "not an envelope: envelope is not JSON" in page
    assert f"/poison/turns-incoming-poison/{bad}/discard" in page
    assert f"/poison/turns-incoming-poison/{bad}/requeue" not in page
    assert f"/poison/{POISON}/{good}/requeue" in page
    refused = client_as("editor").post(f"/poison/turns-incoming-poison/{bad}/requeue")  # by hand
    assert refused.status_code == 302 and services.queues.queue("turns-incoming") == []
    assert services.audit.recent() == []


def test_requeue_moves_the_message_back_onto_its_source_queue_and_is_audited(client_as, services, parked):
    good, _ = parked
    client = client_as("editor")
    answer = client.post(f"/poison/{POISON}/{good}/requeue")
    assert answer.status_code == 302
    assert services.queues.queue(TURNS_OUTGOING) == [envelope().to_json()] and services.queues.queue(POISON) == []
    assert [(a["actor"], a["target"], a["detail"]["turn_id"], a["detail"]["source"])
            for a in services.audit.recent(action="poison.requeue")] == [
        ("editor", f"{POISON}/{good}", "webchat:c1:m1", TURNS_OUTGOING)]
    assert f"Re-queued message {good} onto turns-outgoing" in client.get("/poison/").get_data(as_text=True)


def test_discard_deletes_it_and_keeps_its_text_in_the_audit_log(client_as, services, parked):
    _, bad = parked
    assert client_as("admin").post(f"/poison/turns-incoming-poison/{bad}/discard").status_code == 302
    assert services.queues.queue("turns-incoming-poison") == [] and services.queues.queue("turns-incoming") == []
    [entry] = services.audit.recent(action="poison.discard")
    assert entry["actor"] == "admin" and entry["detail"]["text"] == f"{{not json {SCRIPT}"


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_viewers_and_agents_see_the_page_but_cannot_act(client_as, services, parked, role):
    good, bad = parked
    client = client_as(role)
    page = client.get("/poison/").get_data(as_text=True)
    assert "webchat:c1:m1" in page and "/discard" not in page and "/requeue" not in page
    assert "need the editor role" in page
    assert client.post(f"/poison/{POISON}/{good}/requeue").status_code == 403
    assert client.post(f"/poison/turns-incoming-poison/{bad}/discard").status_code == 403
    assert services.queues.total_parked() == 2 and services.audit.recent() == []


def test_a_message_someone_else_removed_meanwhile_is_said_so(client_as, services, parked):
    good, _ = parked
    client = client_as("editor")
    client.post(f"/poison/{POISON}/{good}/discard")
    answer = client.post(f"/poison/{POISON}/{good}/requeue")
    assert answer.status_code == 302
    page = client.get("/poison/").get_data(as_text=True)
    assert "Nothing re-queued" in page and "no longer in turns-outgoing-poison" in page
    assert services.queues.queue(TURNS_OUTGOING) == [] and services.audit.recent(action="poison.requeue") == []


def test_a_storage_failure_is_shown_and_the_message_stays_parked(client_as, services, parked):
    good, _ = parked
    client = client_as("editor")
    # the page's peek before the move succeeds; the send to turns-outgoing fails
    services.queues.failures += [None, QueueError("re-queueing: Storage answered Service Unavailable")]
    client.post(f"/poison/{POISON}/{good}/requeue")
    page = client.get("/poison/").get_data(as_text=True)
    assert "Nothing re-queued: re-queueing: Storage answered Service Unavailable" in page
    assert services.queues.queue(POISON) == [envelope().to_json()]
    services.queues.failures.append(QueueError("listing the queues: Storage answered Forbidden"))
    broken = client.get("/poison/")
    assert broken.status_code == 502 and "Storage answered Forbidden" in broken.get_data(as_text=True)


def test_only_poison_queues_can_be_acted_on(client_as, services):
    services.queues.park("turns-incoming", "live")
    answer = client_as("editor").post("/poison/turns-incoming/m1/discard")
    assert answer.status_code == 404 and services.queues.queue("turns-incoming") == ["live"]


def test_describe_pretty_prints_json_and_names_what_is_wrong():
    described = describe(ParkedMessage("m1", '{"schema": 1, "turn_id": "t"}', 3, None))
    assert described["text"] == '{\n  "schema": 1,\n  "turn_id": "t"\n}'
    assert described["envelope"] is None and "lacks" in described["problem"] and described["dequeue_count"] == 3
    assert describe(ParkedMessage("m2", envelope().to_json(), 0, 0.0))["envelope"].turn_id == "webchat:c1:m1"


@pytest.fixture
def bot():
    """The function app's pipeline over its in-memory twins (as tests/function_app/conftest.py has it)."""
    deps = Deps(conversations=MemoryConversationStore(), turn_log=MemoryTurnLog(), outbox=MemoryOutbox(),
                queues=MemoryQueues(), nlu=FakeNlu(), services=Services(shop=MemoryShop(), qna=MemoryQna(),
                                                                         qna_min_confidence=0.3),
                channels={"webchat": MemoryChannel(), "sendbird": MemoryChannel()},
                catalogue=CachedCatalogue(MemoryCatalogue().load, branches.all_templates(), refresh_seconds=0),
                webchat=WebchatGuard("webchat-token-secret-of-the-unit-tests", MemoryCounters(),
                                     WebchatLimits(Limit(20, 60), Limit(60, 60), Limit(10, 60))))
    pipeline = Pipeline(deps)
    yield pipeline
    pipeline.close()


def test_a_rescued_turn_is_answered_exactly_once_even_when_re_queued_twice(client_as, services, bot):
    """deliver parks a reply the channel refused; once the cause is fixed, re-queueing it from the page
    delivers it; a duplicate re-queue (a crash between send and delete) sends nothing more."""
    channel = bot.deps.channels["webchat"]
    channel.failures.append(PermanentError("the channel refused the bot's token"))
    env = envelope(text="where is my order?")
    bot.deps.queues.send(TURNS_OUTGOING, env.to_json())
    bot.drain()
    [parked_text] = bot.deps.queues.take(f"{TURNS_OUTGOING}-poison")
    assert bot.deps.turn_log.get("c1", env.turn_id)["status"] == "parked"

    first = services.queues.park(POISON, parked_text)
    duplicate = services.queues.park(POISON, parked_text)
    client = client_as("editor")
    for message in (first, duplicate):
        assert client.post(f"/poison/{POISON}/{message.id}/requeue").status_code == 302
    for text in services.queues.queue(TURNS_OUTGOING):  # what the host's deliver trigger reads
        bot.run(TURNS_OUTGOING, text)
    assert bot.replies("c1") == ["Which order?"] and len(channel.sent) == 1
    assert bot.deps.turn_log.get("c1", env.turn_id)["status"] == "delivered"
