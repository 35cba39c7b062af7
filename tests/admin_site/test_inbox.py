"""The agent inbox: handed-off conversations newest first, the transcript, replies and Release
through the function app, roles, the audit log, and a customer's text escaped."""
from __future__ import annotations

import json
import re

import httpx
import pytest

from admin_site.functions_api import FunctionsApi, FunctionsError, MemoryFunctions, api_root, make_functions
from admin_site.views.inbox import reply_problems, transcript_row
from adminclient import make_settings
from switchboard.envelope import MAX_TEXT_CHARS
from switchboard.turns import TurnRecord

SCRIPT = "<script>alert('pwned')</script>"


def conversation(services, cid: str, handoff: bool = True, updated_at: float = 1_700_000_000_000,
                 channel: str = "webchat", user_id: str = "web:x") -> None:
    services.documents["conversations"].upsert({"id": cid, "channel": channel, "user_id": user_id,
                                                "handoff": handoff, "updated_at": updated_at, "message_count": 2})


def turn(services, cid: str, tid: str, received_at: float, text: str = "", reply: str | None = None,
         branch: str | None = None, status: str = "delivered", updated_at: float | None = None) -> None:
    services.documents["turns"].upsert({"id": tid, "conversation_id": cid, "status": status, "channel": "webchat",
                                        "user_id": "web:x", "text": text, "received_at": received_at, "nlu": None,
                                        "branch": branch, "reply": reply, "error": None, "timings": {},
                                        "updated_at": updated_at or received_at + 50})


@pytest.fixture
def handed_off(services):
    conversation(services, "c1")
    turn(services, "c1", "webchat:c1:m1", 1_700_000_000_000, "I want a person", "Handing you over.",
         "human_handoff")
    turn(services, "c1", "webchat:c1:m2", 1_700_000_001_000, f"hello? {SCRIPT}", None, None,
         "silent: handed off to an agent")
    return "c1"


def message_id(page: str) -> str:
    return re.search(r'name="message_id" value="([^"]+)"', page).group(1)


def test_handed_off_conversations_are_listed_newest_first_with_their_count_in_the_nav(client_as, services):
    conversation(services, "older", updated_at=1_000)
    conversation(services, "newer", updated_at=3_000)
    conversation(services, "with-the-bot", handoff=False, updated_at=5_000)
    page = client_as("agent").get("/inbox/").get_data(as_text=True)
    assert page.index("newer") < page.index("older") and "with-the-bot" not in page
    assert re.search(r'data-count="inbox">2<', page)


def test_the_transcript_shows_silent_customer_messages_and_agent_turns_escaped(app, client_as, services, handed_off):
    turn(services, "c1", "agent:c1:a1", 1_700_000_002_000, "", "Hi, Ann here <b>now</b>", "agent")
    answer = client_as("agent").get("/inbox/c1")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "silent: handed off to an agent" in page and "Handing you over." in page
    assert "&lt;script&gt;alert(" in page and SCRIPT not in page and "<script>" not in page
    assert "Hi, Ann here &lt;b&gt;now&lt;/b&gt;" in page and 'class="tag by-agent"' in page
    assert page.index("I want a person") < page.index("hello?") < page.index("Ann here")
    assert 'src="/static/js/inbox.js"' in page  # the polling: a static file, no inline script
    if "conversations.transcript" in app.view_functions:  # the Conversations page's full record
        assert 'href="/conversations/c1"' in page


def test_a_reply_goes_to_the_function_app_with_the_pages_message_id_and_is_audited(client_as, services, handed_off):
    client = client_as("agent")
    mid = message_id(client.get("/inbox/c1").get_data(as_text=True))
    answer = client.post("/inbox/c1/reply", {"text": "Hi, how can I help?", "message_id": mid})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/inbox/c1")
    assert services.functions.calls == [("send_message", {"conversation_id": "c1", "message_id": mid,
                                                          "text": "Hi, how can I help?", "agent": "agent"})]
    audit = services.audit.recent(action="inbox.reply")
    assert [(a["actor"], a["target"], a["detail"]["turn_id"]) for a in audit] == [("agent", "c1", f"agent:c1:{mid}")]
    assert message_id(client.get("/inbox/c1").get_data(as_text=True)) != mid  # the next message is a new one


def test_submitting_the_reply_box_twice_sends_the_same_message_id(client_as, services, handed_off):
    client = client_as("editor")
    mid = message_id(client.get("/inbox/c1").get_data(as_text=True))
    for _ in range(2):
        client.post("/inbox/c1/reply", {"text": "On it.", "message_id": mid})
    assert {call[1]["message_id"] for call in services.functions.calls} == {mid}  # one turn id: delivered once


@pytest.mark.parametrize("text,problem", [("   ", "Write a message first."),
                                          ("x" * (MAX_TEXT_CHARS + 1), f"the limit is {MAX_TEXT_CHARS}")])
def test_a_bad_reply_comes_back_filled_with_the_problem_and_nothing_is_sent(client_as, services, handed_off,
                                                                            text, problem):
    client = client_as("agent")
    mid = message_id(client.get("/inbox/c1").get_data(as_text=True))
    answer = client.post("/inbox/c1/reply", {"text": text, "message_id": mid})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and problem in page and message_id(page) == mid
    assert (text.strip() or "</textarea>") in page
    assert services.functions.calls == [] and services.audit.recent(action="inbox.reply") == []


def test_a_function_app_refusal_is_shown_with_the_message_kept_and_not_audited(client_as, services, handed_off):
    services.functions.failures.append(FunctionsError(
        "the function app answered 409: conversation c1 is not handed off to an agent: the bot answers it", 409))
    client = client_as("agent")
    mid = message_id(client.get("/inbox/c1").get_data(as_text=True))
    answer = client.post("/inbox/c1/reply", {"text": f"my answer {SCRIPT}", "message_id": mid})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 502 and "Not sent: the function app answered 409" in page
    assert "my answer &lt;script&gt;" in page and message_id(page) == mid  # retrying sends it once
    assert services.audit.recent(action="inbox.reply") == []


def test_release_hands_the_conversation_back_and_is_audited(client_as, services, handed_off):
    answer = client_as("agent").post("/inbox/c1/release")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/inbox/")
    assert services.functions.calls == [("release", {"conversation_id": "c1"})]
    assert [(a["actor"], a["target"]) for a in services.audit.recent(action="inbox.release")] == [("agent", "c1")]


def test_a_failed_release_says_why_on_the_page(client_as, services, handed_off):
    services.functions.failures.append(FunctionsError("the function app did not answer (ConnectError: refused)"))
    answer = client_as("admin").post("/inbox/c1/release")
    assert answer.status_code == 502
    assert "Not released: the function app did not answer" in answer.get_data(as_text=True)
    assert services.audit.recent(action="inbox.release") == []


def test_viewers_read_the_inbox_but_cannot_reply_or_release(client_as, services, handed_off):
    viewer = client_as("viewer")
    assert viewer.get("/inbox/").status_code == 200
    page = viewer.get("/inbox/c1").get_data(as_text=True)
    assert "hello?" in page and "<textarea" not in page and "Release" not in page and "Read only" in page
    assert viewer.post("/inbox/c1/reply", {"text": "hi", "message_id": "abc"}).status_code == 403
    assert viewer.post("/inbox/c1/release").status_code == 403
    assert services.functions.calls == [] and services.audit.recent() == []


def test_a_conversation_the_bot_answers_has_no_reply_box(client_as, services):
    conversation(services, "c2", handoff=False)
    page = client_as("agent").get("/inbox/c2").get_data(as_text=True)
    assert "the bot answers it" in page and "<textarea" not in page


def test_an_unknown_conversation_is_404(client_as):
    client = client_as("agent")
    assert client.get("/inbox/nobody").status_code == 404
    assert client.post("/inbox/nobody/reply", {"text": "hi", "message_id": "abc"}).status_code == 404


def test_new_turns_are_polled_by_when_they_were_logged(client_as, services, handed_off):
    client = client_as("viewer")
    cursor = float(re.search(r'data-cursor="([^"]+)"', client.get("/inbox/c1").get_data(as_text=True)).group(1))
    assert client.get(f"/inbox/c1/turns?after={cursor}").get_json() == {"turns": [], "cursor": cursor,
                                                                        "handoff": True}
    # a slow turn received before the last one shown, logged after it: still picked up
    turn(services, "c1", "webchat:c1:slow", 1_700_000_000_500, SCRIPT, updated_at=cursor + 10)
    polled = client.get(f"/inbox/c1/turns?after={cursor}").get_json()
    assert [(t["id"], t["customer"]) for t in polled["turns"]] == [("webchat:c1:slow", SCRIPT)]
    assert polled["cursor"] == cursor + 10
    bad = client.http.get("/inbox/c1/turns?after=soon", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and "'after' must be a number" in bad.get_json()["error"]


def test_pure_helpers():
    assert reply_problems("hi", "abc123") == []
    assert reply_problems("", "abc") == ["Write a message first."]
    assert "damaged" in reply_problems("hi", "")[0] and "damaged" in reply_problems("hi", "a b")[0]
    row = transcript_row(TurnRecord.from_doc({"id": "agent:c:m", "text": "", "reply": "hi", "branch": "agent",
                                              "received_at": 0}))
    assert (row["by"], row["customer"], row["reply"], row["when"]) == ("agent", "", "hi", "")
    assert transcript_row(TurnRecord.from_doc({"id": "t", "branch": "greeting", "reply": "Hello"}))["by"] == "bot"


def test_the_function_apps_errors_reach_the_page_through_the_real_client(client_as, services, handed_off):
    seen = []

    def function_app(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("x-agent-token"),
                     json.loads(request.content)))
        return httpx.Response(409, json={"error": "conversation c1 is not handed off to an agent: the bot answers it"})

    services.functions = FunctionsApi("http://functions.test", "the-token", transport=httpx.MockTransport(function_app))
    client = client_as("agent")
    mid = message_id(client.get("/inbox/c1").get_data(as_text=True))
    page = client.post("/inbox/c1/reply", {"text": "hello", "message_id": mid}).get_data(as_text=True)
    assert "Not sent: the function app answered 409: conversation c1 is not handed off" in page
    assert seen == [("POST", "/api/conversations/c1/messages", "the-token",
                     {"message_id": mid, "text": "hello", "agent": "agent"})]


def test_a_function_app_that_does_not_answer_is_named_as_such():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(FunctionsError, match="did not answer") as e:
        FunctionsApi("http://functions.test", "t", transport=httpx.MockTransport(down)).release("c1")
    assert e.value.status is None
    page = httpx.MockTransport(lambda r: httpx.Response(500, text="<html>Internal error</html>"))
    with pytest.raises(FunctionsError, match="answered 500: <html>Internal error") as e:
        FunctionsApi("http://functions.test", "t", transport=page).release("c1")


def test_make_functions_picks_the_function_app_with_a_url_and_the_twin_without():
    assert isinstance(make_functions(make_settings()), MemoryFunctions)
    assert isinstance(make_functions(make_settings(functions_url="http://127.0.0.1:7071")), FunctionsApi)
    assert api_root("http://127.0.0.1:7071") == api_root("http://127.0.0.1:7071/api/") == "http://127.0.0.1:7071/api"
