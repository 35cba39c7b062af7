"""POST /api/conversations/{id}/messages: an agent's message reaches the customer through the bot's
own delivery (the channel adapter, the outbox, the turn log), once, and only while an agent has the
conversation.

The HTTP functions are called as the functions host calls them (an `HttpRequest`, an `Out` per
output binding, what they set put on that binding's queue), over the in-memory pipeline.
"""
from __future__ import annotations

import json
from urllib.parse import unquote

import azure.functions as func
import httpx
import pytest

import blueprints
from admin_site.functions_api import FunctionsApi, FunctionsError
from core.channels import SendBirdChannel
from core.conversation import Conversation
from core.settings import get_settings
from devstack.host_workers import call
from helpers import ROOT
from pipeline import nlu_result
from switchboard.envelope import MAX_TEXT_CHARS
from switchboard.retry import RetryPolicy

TOKEN = "agent-token-for-tests"
HANDOFF = "let me talk to a human"


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    """The function app's settings from the sample, with a known agent token."""
    for key, value in json.loads((ROOT / "local.settings.sample.json").read_text())["Values"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AGENT_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _functions() -> dict:
    app = func.FunctionApp()
    blueprints.register_all(app)
    return {f.get_function_name(): f for f in app.get_functions()}


FUNCTIONS = _functions()


def http(deps, name: str, route_params: dict, body: bytes = b"", headers: dict | None = None,
         method: str = "POST", params: dict | None = None) -> func.HttpResponse:
    """Call HTTP function `name` as the host does; what it sets on a queue output is queued."""
    function = FUNCTIONS[name]
    outputs = {b["name"]: b["queueName"] for b in (x.get_dict_repr() for x in function.get_bindings())
               if b["type"] == "queue"}
    request = func.HttpRequest(method, "http://localhost/api/x", headers=headers or {}, params=params or {},
                               route_params=route_params, body=body)
    response, values = call(function.get_user_function(), list(outputs), {"req": request})
    for arg, value in values.items():
        deps.queues.send(outputs[arg], value)
    return response


def post_message(deps, conversation_id: str, body, token: str | None = TOKEN) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"x-agent-token": token} if token is not None else {}
    return http(deps, "agent_message", {"conversation_id": conversation_id}, raw, headers)


def answer(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def hand_off(pipeline, deps, conversation: str = "c1") -> None:
    deps.nlu.table[HANDOFF] = nlu_result("human_handoff")
    pipeline.say(HANDOFF, conversation=conversation)
    assert deps.conversations.load(conversation).handoff is True


def test_an_agents_message_reaches_the_web_chat_outbox_and_the_turn_log_as_an_agent_turn(pipeline, deps):
    hand_off(pipeline, deps)
    deps.nlu.table["hello? anyone?"] = nlu_result("greeting")
    pipeline.say("hello? anyone?")  # silent: a person has it
    response = post_message(deps, "c1", {"message_id": "m-1", "text": "Hi, I'm Ann. How can I help?",
                                         "agent": "ann"})
    assert response.status_code == 202
    assert answer(response) == {"conversation_id": "c1", "turn_id": "agent:c1:m-1"}
    pipeline.drain()
    assert pipeline.replies()[-1] == "Hi, I'm Ann. How can I help?"
    polled = http(deps, "webchat_replies", {"conversation_id": "c1"}, method="GET", params={"after": "0"},
                  headers={"Authorization": f"Bearer {deps.webchat.token('c1')}"})
    assert [m["text"] for m in answer(polled)["messages"]][-1] == "Hi, I'm Ann. How can I help?"
    turn = deps.turn_log.get("c1", "agent:c1:m-1")
    assert (turn["branch"], turn["status"], turn["reply"], turn["text"]) == (
        "agent", "delivered", "Hi, I'm Ann. How can I help?", "")
    assert {"agent_message", "deliver", "end_to_end"} <= set(turn["timings"])
    assert deps.conversations.load("c1").handoff is True  # still the agent's


def test_the_same_message_sent_twice_reaches_the_customer_once(pipeline, deps):
    hand_off(pipeline, deps)
    for _ in range(2):  # a double-submit of the reply box: the same message_id
        assert post_message(deps, "c1", {"message_id": "m-1", "text": "On it.", "agent": "ann"}).status_code == 202
    pipeline.drain()
    assert pipeline.replies().count("On it.") == 1
    assert len([e for e in deps.channels["webchat"].sent if e.turn_id == "agent:c1:m-1"]) == 1


def test_a_sendbird_conversation_is_answered_through_the_bot_send_api_with_the_turn_id_as_dedup_id(pipeline, deps):
    sent = []

    def sendbird(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"message_id": 1})

    deps.channels["sendbird"] = SendBirdChannel("https://api-app.sendbird.test", "token", "bot",
                                                policy=RetryPolicy(attempts=1),
                                                transport=httpx.MockTransport(sendbird))
    deps.conversations.save(Conversation("sendbird_group_channel_1", "sendbird", "customer-7", handoff=True))
    response = post_message(deps, "sendbird_group_channel_1", {"message_id": "m-9", "text": "Sorted!", "agent": "bo"})
    assert response.status_code == 202
    pipeline.drain()
    assert sent == [("/v3/bots/bot/send", {"message_type": "MESG", "message": "Sorted!",
                                            "channel_url": "sendbird_group_channel_1",
                                            "dedup_id": "agent:sendbird_group_channel_1:m-9"})]
    turn = deps.turn_log.get("sendbird_group_channel_1", "agent:sendbird_group_channel_1:m-9")
    assert (turn["branch"], turn["status"], turn["user_id"]) == ("agent", "delivered", "customer-7")


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_a_missing_or_wrong_agent_token_is_401_and_nothing_is_queued(pipeline, deps, token):
    hand_off(pipeline, deps)
    response = post_message(deps, "c1", {"message_id": "m-1", "text": "hi", "agent": "ann"}, token=token)
    assert response.status_code == 401 and "x-agent-token" in answer(response)["error"]
    assert not deps.queues.sent.get("turns-outgoing")


def test_an_unknown_conversation_is_404(pipeline, deps):
    response = post_message(deps, "nobody", {"message_id": "m-1", "text": "hi", "agent": "ann"})
    assert response.status_code == 404 and "nobody" in answer(response)["error"]
    assert not deps.queues.sent.get("turns-outgoing")


def test_a_conversation_the_bot_answers_is_409_with_the_reason(pipeline, deps):
    deps.nlu.table["hi"] = nlu_result("greeting")
    pipeline.say("hi")
    response = post_message(deps, "c1", {"message_id": "m-1", "text": "hi", "agent": "ann"})
    assert response.status_code == 409 and "not handed off" in answer(response)["error"]
    assert not deps.queues.sent.get("turns-outgoing")


def test_after_release_the_agent_can_no_longer_write(pipeline, deps):
    hand_off(pipeline, deps)
    released = http(deps, "agent_release", {"conversation_id": "c1"}, headers={"x-agent-token": TOKEN})
    assert released.status_code == 200
    response = post_message(deps, "c1", {"message_id": "m-1", "text": "still there?", "agent": "ann"})
    assert response.status_code == 409


@pytest.mark.parametrize("body,status,reason", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1]", 400, "JSON object"),
    ({"message_id": "m-1", "text": "   ", "agent": "ann"}, 400, "'text' must be a non-empty string"),
    ({"message_id": "m-1", "agent": "ann"}, 400, "'text'"),
    ({"message_id": "m-1", "text": "x" * (MAX_TEXT_CHARS + 1), "agent": "ann"}, 400,
     f"the limit is {MAX_TEXT_CHARS}"),
    ({"message_id": "m 1", "text": "hi", "agent": "ann"}, 400, "'message_id'"),
    ({"text": "hi", "agent": "ann"}, 400, "'message_id'"),
    ({"message_id": "m-1", "text": "hi"}, 400, "'agent'"),
    ({"message_id": "m" * 199, "text": "hi", "agent": "ann"}, 400, "turn id"),
    ({"message_id": "m-1", "text": "x" * 70_000, "agent": "ann"}, 413, "the limit is 65536"),
])
def test_bad_input_is_a_4xx_naming_the_problem_and_nothing_is_queued(pipeline, deps, body, status, reason):
    hand_off(pipeline, deps)
    response = post_message(deps, "c1", body)
    assert response.status_code == status and reason in answer(response)["error"]
    assert not deps.queues.sent.get("turns-outgoing")


def test_the_text_at_the_limit_is_accepted(pipeline, deps):
    hand_off(pipeline, deps)
    response = post_message(deps, "c1", {"message_id": "m-1", "text": "x" * MAX_TEXT_CHARS, "agent": "ann"})
    assert response.status_code == 202


def _through_the_functions(pipeline, deps):
    """An httpx transport that hands the admin site's requests to the app's HTTP functions."""
    def handle(request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # /api/conversations/<id>/<action>
        assert parts[:3] == ["", "api", "conversations"], request.url.path
        name = {"messages": "agent_message", "release": "agent_release"}[parts[4]]
        response = http(deps, name, {"conversation_id": unquote(parts[3])}, request.content,
                        dict(request.headers))
        return httpx.Response(response.status_code, content=response.get_body(),
                              headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


def test_the_admin_sites_client_speaks_this_endpoints_protocol(pipeline, deps):
    hand_off(pipeline, deps, conversation="web:c@1")
    client = FunctionsApi("http://functions.test", TOKEN, transport=_through_the_functions(pipeline, deps))
    assert client.send_message("web:c@1", "m-1", "Hello from a person", "ann")["turn_id"] == "agent:web:c@1:m-1"
    pipeline.drain()
    assert pipeline.replies("web:c@1")[-1] == "Hello from a person"
    assert client.release("web:c@1")["changed"] is True
    with pytest.raises(FunctionsError) as refused:
        client.send_message("web:c@1", "m-2", "again", "ann")
    assert refused.value.status == 409 and "not handed off" in str(refused.value)
    wrong = FunctionsApi("http://functions.test", "wrong", transport=_through_the_functions(pipeline, deps))
    with pytest.raises(FunctionsError, match="401: missing or wrong x-agent-token"):
        wrong.release("web:c@1")
