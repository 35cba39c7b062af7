"""The Conversations pages: the turn log (newest first, filtered, paged) and one conversation's
transcript; and the conversation documents' reader, `Conversations` (one contract test body over the
in-memory twin and the Cosmos DB stand-in)."""
from __future__ import annotations

import re
import uuid

import pytest
from azure.cosmos import CosmosClient

from admin_site import turnlog
from admin_site.conversations import Conversations
from admin_site.documents import CosmosDocuments, MemoryDocuments
from devstack.stack import COSMOS_KEY
from switchboard.cosmos import CONVERSATIONS, PARTITION_KEYS
from switchboard.envelope import Envelope
from switchboard.turns import TurnRecord

T0 = 1_767_225_600_000.0  # 2026-01-01 00:00:00 UTC, epoch ms
SCRIPT = "<script>alert('x')</script>"


def log(services, turn_id: str, at: float, conversation: str = "c1", channel: str = "webchat",
        status: str = "delivered", branch: str | None = "order_status", intent: str | None = "order_status",
        confidence: float = 0.93, text: str = "where is A-1234", entities=(),
        reply: str = "It ships tomorrow.", error: str | None = None, user: str = "u1") -> dict:
    ranking = [{"name": intent, "confidence": confidence}, {"name": "greeting", "confidence": 0.04}]
    result = {"intent": {"name": intent, "confidence": confidence}, "intent_ranking": ranking,
              "out_of_scope": False, "entities": list(entities), "tier": "transformer"} if intent else None
    timings = {"understand": 12.5, "intent_order_status": 40.25, "deliver": 7.0, "end_to_end": 88.75}
    envelope = Envelope(turn_id, channel, conversation, user, text, received_at=at, nlu=result, branch=branch,
                        reply=reply, error=error, timings=timings)
    return services.documents["turns"].upsert(TurnRecord.from_envelope(envelope, status).to_doc())


def rows(page: str) -> list[str]:
    """The turn ids of the log's rows, top to bottom."""
    return re.findall(r'href="/conversations/[^"#]+#turn-([^"]+)"', page)


@pytest.fixture
def viewer(client_as):
    return client_as("viewer")


def test_the_log_lists_turns_newest_first_each_linking_to_its_transcript(services, viewer):
    log(services, "t1", T0, conversation="c1")
    log(services, "t2", T0 + 1000, conversation="c2")
    log(services, "t3", T0 + 2000, conversation="c1")
    page = viewer.get("/conversations/").get_data(as_text=True)
    assert rows(page) == ["t3", "t2", "t1"]
    assert 'href="/conversations/c2#turn-t2"' in page and "2026-01-01 00:00:01.000" in page
    assert "88.8 ms" in page or "88.7 ms" in page  # end to end


def test_each_filter_is_a_query_string_parameter(services, viewer):
    log(services, "t1", T0)
    log(services, "t2", T0 + 1000, channel="sendbird")
    log(services, "t3", T0 + 86_400_000, intent="greeting", branch="greeting")
    log(services, "t4", T0 + 2 * 86_400_000, branch="fallback", status="failed", error="shop API 503")
    for query, expected in [("channel=sendbird", ["t2"]), ("intent=greeting", ["t3"]),
                            ("branch=fallback", ["t4"]), ("status=failed", ["t4"]),
                            ("from=2026-01-02", ["t4", "t3"]), ("to=2026-01-01T00:00:02", ["t2", "t1"]),
                            ("channel=webchat&status=delivered", ["t3", "t1"]), ("intent=nothing", [])]:
        assert rows(viewer.get(f"/conversations/?{query}").get_data(as_text=True)) == expected, query


def test_a_bad_filter_is_named_with_the_form_filled(services, viewer):
    log(services, "t1", T0)
    answer = viewer.get("/conversations/?from=last+tuesday&channel=webchat")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "from: &#39;last tuesday&#39; is not a time" in page
    assert 'name="from" value="last tuesday"' in page and '<option value="webchat" selected>' in page
    damaged = viewer.get("/conversations/?before=garbage")
    assert damaged.status_code == 400 and "paging link is damaged" in damaged.get_data(as_text=True)


def test_older_pages_keep_the_filters_and_reach_the_end(services, viewer):
    for i in range(turnlog.PAGE_SIZE + 5):
        log(services, f"w{i}", T0 + i * 1000, channel="webchat")
        log(services, f"s{i}", T0 + i * 1000 + 1, channel="sendbird")
    first = viewer.get("/conversations/?channel=webchat").get_data(as_text=True)
    assert rows(first) == [f"w{i}" for i in range(turnlog.PAGE_SIZE + 4, 4, -1)]
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "channel=webchat" in older
    second = viewer.get(older).get_data(as_text=True)
    assert rows(second) == ["w4", "w3", "w2", "w1", "w0"]
    assert 'rel="next"' not in second and ">Newest</a>" in second


def test_the_transcript_shows_the_nlu_result_the_entities_the_reply_and_the_timings(services, viewer):
    entity = {"entity": "order_id", "value": "A-1234", "start": 9, "end": 15, "confidence": 0.88}
    log(services, "t1", T0, entities=[entity])
    log(services, "t2", T0 + 5000, intent="greeting", branch="greeting", confidence=0.41, text="thanks",
        reply="You're welcome", status="failed", error="webchat outbox refused")
    log(services, "other", T0 + 1, conversation="c2", text="somebody else")
    agent = Envelope("agent:1", "webchat", "c1", "u1", "", received_at=T0 + 9000, branch="agent",
                     reply="A person here: it left the warehouse today.")
    services.documents["turns"].upsert(TurnRecord.from_envelope(agent, "delivered").to_doc())
    page = viewer.get("/conversations/c1").get_data(as_text=True)
    assert page.index('id="turn-t1"') < page.index('id="turn-t2"') < page.index('id="turn-agent:1"')
    assert "somebody else" not in page
    assert ('where is <mark class="entity" title="order_id">A-1234<small>order_id</small></mark>' in page)
    assert "<td>order_id</td><td>A-1234</td><td>9–15</td><td>0.88</td>" in page
    assert '<span class="tag">order_status</span> 0.93' in page and "<td>greeting</td><td>0.04</td>" in page
    assert 'data-tier="transformer">by the transformer tier</span>' in page  # which model tier understood it
    assert "<td>understand</td><td>12.5 ms</td>" in page
    assert "<td>intent_order_status</td><td>40.2 ms</td>" in page
    assert "<td>end_to_end</td><td>88.8 ms</td>" in page or "<td>end_to_end</td><td>88.7 ms</td>" in page
    assert "It ships tomorrow." in page and "You&#39;re welcome" in page and "webchat outbox refused" in page
    assert "review (low confidence (0.41 &lt; 0.50))" in page  # a way into the review of the unsure turn
    assert '<span class="tag">agent</span> A person here: it left the warehouse today.' in page


def test_customer_and_bot_text_render_as_text_never_markup(services, viewer):
    log(services, "t1", T0, text=f"hi {SCRIPT}", reply=f"echo {SCRIPT}", user=f"u{SCRIPT}",
        error=f"boom {SCRIPT}",
        entities=[{"entity": "x", "value": SCRIPT, "start": 3, "end": 3 + len(SCRIPT)}])
    log(services, "t2", T0 + 1, text=f"{SCRIPT} again", intent=SCRIPT, branch=SCRIPT, status=SCRIPT)
    for url in ("/conversations/", "/conversations/c1", "/conversations/?intent=" + SCRIPT):
        page = viewer.get(url).get_data(as_text=True)
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_an_unknown_conversation_is_404(viewer):
    assert viewer.get("/conversations/nobody").status_code == 404
    assert viewer.get("/conversations/bad%20id").status_code == 404


def test_the_pages_need_a_login(client_as):
    assert client_as().get("/conversations/").status_code == 302


# ---- the reader, over memory and Cosmos DB -----------------------------------------------------------
@pytest.fixture(params=["memory", "cosmos"])
def docs(request):
    if request.param == "memory":
        return MemoryDocuments(CONVERSATIONS, PARTITION_KEYS[CONVERSATIONS])
    client = CosmosClient(request.getfixturevalue("cosmos"), COSMOS_KEY, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"conversations-{uuid.uuid4().hex[:8]}")
    return CosmosDocuments(database, CONVERSATIONS, PARTITION_KEYS[CONVERSATIONS])


def test_the_reader_finds_a_conversation_and_the_handed_off_ones_most_recent_first(docs):
    conversations = Conversations(docs)
    for cid, handoff, updated_at in (("older", True, 1_000), ("newer", True, 3_000), ("bot", False, 5_000),
                                     ("newest", True, 4_000)):
        docs.upsert({"id": cid, "channel": "webchat", "user_id": f"web:{cid}", "handoff": handoff,
                     "updated_at": updated_at, "message_count": 2})
    docs.upsert({"id": "unknown", "channel": "sendbird", "updated_at": 6_000})  # no handoff field at all
    assert [c["id"] for c in conversations.handed_off(10)] == ["newest", "newer", "older"]
    assert [c["id"] for c in conversations.handed_off(2)] == ["newest", "newer"]
    assert conversations.handed_off_count() == 3
    assert conversations.get("bot")["user_id"] == "web:bot" and conversations.get("nobody") is None
