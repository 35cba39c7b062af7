"""The web chat channel, open to the internet: server-issued conversations with tokens, rate limits per
conversation and per client address (429 with Retry-After), the size limit. The HTTP functions are
called as the functions host calls them, over the in-memory twins and a fake clock."""
from __future__ import annotations

import json

import azure.functions as func
import pytest

import blueprints
from core.queues import TURNS_INCOMING
from core.ratelimit import Limit, MemoryCounters
from core.settings import LOCAL_WEBCHAT_TOKEN_SECRET, Settings
from core.webchat import Refused, WebchatGuard, WebchatLimits, client_address, conversation_token
from core.wiring import use_deps
from devstack.host_workers import call
from helpers import ROOT
from switchboard.errors import ConflictError, SettingsError, TransientError

WEBCHAT_SECRET = "webchat-token-secret-of-these-tests"


class Clock:
    def __init__(self, now: float = 1_000_020.0) -> None:  # a window of 60 s starts here
        self.now = now

    def __call__(self) -> float:
        return self.now


SMALL = WebchatLimits(messages_per_conversation=Limit(3, 60), messages_per_address=Limit(5, 60),
                      conversations_per_address=Limit(2, 60))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def counters() -> MemoryCounters:
    return MemoryCounters()


@pytest.fixture
def web(deps, clock, counters):
    """The app's functions over `deps`, with small limits and a fake clock."""
    deps.webchat = WebchatGuard(WEBCHAT_SECRET, counters, SMALL, clock)
    use_deps(deps)
    yield deps
    use_deps(None)


def _functions() -> dict:
    app = func.FunctionApp()
    blueprints.register_all(app)
    return {f.get_function_name(): f for f in app.get_functions()}


FUNCTIONS = _functions()


def http(deps, name: str, body: bytes = b"", headers: dict | None = None, method: str = "POST",
         route_params: dict | None = None, params: dict | None = None) -> func.HttpResponse:
    """Call HTTP function `name` as the host does; what it sets on a queue output is queued."""
    function = FUNCTIONS[name]
    outputs = [b["name"] for b in (x.get_dict_repr() for x in function.get_bindings()) if b["type"] == "queue"]
    request = func.HttpRequest(method, "http://localhost/api/x", headers=headers or {}, params=params or {},
                               route_params=route_params or {}, body=body)
    response, values = call(function.get_user_function(), outputs, {"req": request})
    for value in values.values():
        deps.queues.send(TURNS_INCOMING, value)
    return response


def body(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def open_conversation(deps, address: str = "203.0.113.7") -> tuple[str, str]:
    response = http(deps, "webchat_conversations", headers={"X-Forwarded-For": address})
    assert response.status_code == 201, response.get_body()
    return body(response)["conversation_id"], body(response)["token"]


def send(deps, conversation: str, token: str | None, text: str = "hi", address: str = "203.0.113.7",
         message_id: str | None = None) -> func.HttpResponse:
    headers = {"X-Forwarded-For": address, **({"Authorization": f"Bearer {token}"} if token else {})}
    data = {"conversation_id": conversation, "text": text, **({"message_id": message_id} if message_id else {})}
    return http(deps, "webchat_messages", json.dumps(data).encode(), headers)


def read(deps, conversation: str, token: str | None) -> func.HttpResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http(deps, "webchat_replies", headers=headers, method="GET",
                route_params={"conversation_id": conversation}, params={"after": "0"})


def queued(deps) -> list[dict]:
    return [json.loads(m) for m in deps.queues.sent[TURNS_INCOMING]]


# ---- conversations and their tokens ----------------------------------------------------------------
def test_the_server_issues_the_conversation_id_and_a_token_that_opens_only_that_conversation(web):
    conversation, token = open_conversation(web)
    assert token == conversation_token(WEBCHAT_SECRET, conversation) != conversation_token("other" * 8, conversation)
    sent = send(web, conversation, token, message_id="m1")
    assert sent.status_code == 202 and body(sent)["turn_id"] == f"webchat:{conversation}:m1"
    assert read(web, conversation, token).status_code == 200
    other, other_token = open_conversation(web)
    assert other != conversation and other_token != token


def test_a_guessed_or_made_up_conversation_id_is_refused_and_nothing_is_queued(web, counters):
    victim, _ = open_conversation(web)
    mine, my_token = open_conversation(web)
    no_token = send(web, "made-up-by-the-client", None)
    assert no_token.status_code == 401 and "Authorization: Bearer" in body(no_token)["error"]
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    guessed = send(web, victim, my_token)  # someone else's id, with my own token
    assert guessed.status_code == 403 and body(guessed)["error"] == "the token is not this conversation's"
    assert send(web, victim, "zz" * 32).status_code == 403
    assert send(web, victim, "tökén").status_code == 403  # not ASCII: refused, not a crash
    assert read(web, victim, my_token).status_code == 403 and read(web, victim, None).status_code == 401
    assert queued(web) == []
    assert not [key for key in counters.counts if "messages" in key or victim in key]  # refused before counting
    assert send(web, mine, my_token).status_code == 202


def test_a_message_needs_a_conversation_id_from_the_server(web):
    _, token = open_conversation(web)
    missing = http(web, "webchat_messages", json.dumps({"text": "hi"}).encode(), {"Authorization": f"Bearer {token}"})
    assert missing.status_code == 400 and "POST /api/channels/webchat/conversations" in body(missing)["error"]


def test_bearer_scheme_is_case_insensitive_and_other_schemes_are_no_token(web):
    conversation, token = open_conversation(web)
    guard = web.webchat
    guard.admit_reader(conversation, f"bearer  {token} ")
    with pytest.raises(Refused) as refused:
        guard.admit_reader(conversation, f"Basic {token}")
    assert refused.value.status == 401


# ---- sizes ------------------------------------------------------------------------------------------
def test_a_message_over_the_size_limit_is_refused_naming_the_limit(web):
    conversation, token = open_conversation(web)
    too_long = send(web, conversation, token, text="x" * 1001)
    assert too_long.status_code == 400 and body(too_long)["error"] == "'text' is 1001 characters; the limit is 1000"
    assert send(web, conversation, token, text="x" * 1000).status_code == 202
    huge = http(web, "webchat_messages", b"{" + b" " * (64 * 1024) + b"}", {"Authorization": f"Bearer {token}"})
    assert huge.status_code == 413 and "the limit is 65536" in body(huge)["error"]


# ---- rate limits ------------------------------------------------------------------------------------
def test_a_burst_in_one_conversation_gets_429_with_retry_after_until_the_window_ends(web, clock):
    conversation, token = open_conversation(web)
    assert [send(web, conversation, token).status_code for _ in range(3)] == [202] * 3
    clock.now += 35  # 25 s of the window left
    refused = send(web, conversation, token)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "25"
    assert body(refused) == {"error": "too many messages in this conversation: at most 3 in 60 s; try again in 25 s",
                             "retry_after": 25}
    assert len(queued(web)) == 3
    clock.now += 25
    assert send(web, conversation, token).status_code == 202


def test_a_burst_from_one_address_is_refused_across_its_conversations_and_others_are_not(web, clock):
    first, first_token = open_conversation(web, "198.51.100.1")
    second, second_token = open_conversation(web, "198.51.100.1")
    clock.now += 20
    statuses = [send(web, c, t, address="198.51.100.1").status_code
                for c, t in [(first, first_token), (second, second_token)] * 3]
    assert statuses == [202] * 5 + [429]
    refused = send(web, second, second_token, address="198.51.100.1")
    assert body(refused)["error"].startswith("too many messages from your address: at most 5 in 60 s")
    assert int(refused.headers["Retry-After"]) == 40
    # a spoofed left-hand X-Forwarded-For entry changes nothing: the front end's own entry counts
    assert send(web, second, second_token, address="10.9.9.9, 198.51.100.1").status_code == 429
    other, other_token = open_conversation(web, "198.51.100.2")
    assert send(web, other, other_token, address="198.51.100.2").status_code == 202
    clock.now += 40
    assert send(web, second, second_token, address="198.51.100.1").status_code == 202


def test_new_conversations_per_address_are_limited(web, clock):
    open_conversation(web, "192.0.2.1")
    open_conversation(web, "192.0.2.1")
    clock.now += 20
    refused = http(web, "webchat_conversations", headers={"X-Forwarded-For": "192.0.2.1"})
    assert refused.status_code == 429 and body(refused)["retry_after"] == 40
    assert "new conversations from your address" in body(refused)["error"]
    open_conversation(web, "192.0.2.2")
    clock.now += 40
    open_conversation(web, "192.0.2.1")


def test_a_limit_of_0_is_no_limit():
    guard = WebchatGuard(WEBCHAT_SECRET, MemoryCounters(), WebchatLimits(Limit(0, 60), Limit(0, 60), Limit(0, 60)))
    for _ in range(100):
        conversation = guard.open_conversation(None)["conversation_id"]
        guard.admit_message(conversation, f"Bearer {guard.token(conversation)}", None)


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    def take(self, key: str, window: float, limit: int, seconds: float) -> bool:
        self.calls += 1
        raise self.error


def test_a_count_that_keeps_changing_is_a_short_429():
    contended = WebchatGuard(WEBCHAT_SECRET, Failing(ConflictError("changed")), SMALL)
    with pytest.raises(Refused) as refused:
        contended.open_conversation("203.0.113.7")
    assert (refused.value.status, refused.value.retry_after) == (429, 1)


def test_while_the_counts_store_is_down_the_chat_stays_open_without_waiting_on_it_each_time(clock):
    store = Failing(TransientError("Cosmos DB did not answer"))
    down = WebchatGuard(WEBCHAT_SECRET, store, SMALL, clock)
    conversation = down.open_conversation("203.0.113.7")["conversation_id"]
    for _ in range(10):
        down.admit_message(conversation, f"Bearer {down.token(conversation)}", "203.0.113.7")
    assert store.calls == 1  # then nothing is counted for a few seconds
    with pytest.raises(Refused):  # tokens are still checked
        down.admit_message(conversation, "Bearer wrong", "203.0.113.7")
    clock.now += 5
    down.admit_message(conversation, f"Bearer {down.token(conversation)}", "203.0.113.7")
    assert store.calls == 2  # asked again


# ---- the client's address ---------------------------------------------------------------------------
@pytest.mark.parametrize("forwarded, trusted, address", [
    ("203.0.113.7", 1, "203.0.113.7"),
    ("203.0.113.7:51234", 1, "203.0.113.7"),  # the App Service front end adds the port
    ("1.1.1.1, 203.0.113.7:443", 1, "203.0.113.7"),  # what the client sent is left of it
    ("203.0.113.7, 10.0.0.4", 2, "203.0.113.7"),  # behind one more proxy (Front Door)
    ("[2001:db8:1:2:aaaa::1]:443", 1, "2001:db8:1:2::"),  # IPv6 by its /64
    ("2001:db8:1:2:bbbb::9", 1, "2001:db8:1:2::"),
    ("::ffff:203.0.113.7", 1, "203.0.113.7"),
    (None, 1, "unknown"), ("", 1, "unknown"), ("not-an-address", 1, "unknown"),
    ("203.0.113.7", 2, "unknown"),  # fewer entries than trusted proxies
    ("203.0.113.7", 0, "unknown"),  # nothing trusted
])
def test_the_client_address_is_the_entry_the_trusted_proxies_appended(forwarded, trusted, address):
    assert client_address(forwarded, trusted) == address


# ---- settings ---------------------------------------------------------------------------------------
def sample() -> dict:
    return json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def test_the_limits_are_settings_with_working_defaults():
    values = {k: v for k, v in sample().items() if not k.startswith("WEBCHAT_")}
    settings = Settings.from_env(values)
    assert (settings.webchat_messages_per_conversation, settings.webchat_messages_per_address,
            settings.webchat_conversations_per_address, settings.webchat_limit_window_seconds,
            settings.webchat_trusted_proxies) == (20, 60, 10, 60.0, 1)
    assert settings.webchat_token_secret == LOCAL_WEBCHAT_TOKEN_SECRET
    tuned = Settings.from_env({**values, "WEBCHAT_MESSAGES_PER_ADDRESS": "0", "WEBCHAT_TRUSTED_PROXIES": "2"})
    assert (tuned.webchat_messages_per_address, tuned.webchat_trusted_proxies) == (0, 2)
    with pytest.raises(SettingsError) as e:
        Settings.from_env({**values, "WEBCHAT_MESSAGES_PER_CONVERSATION": "-1", "WEBCHAT_LIMIT_WINDOW_SECONDS": "0",
                           "WEBCHAT_MESSAGES_PER_ADDRESS": "lots"})
    assert "WEBCHAT_MESSAGES_PER_CONVERSATION: must not be negative" in str(e.value)
    assert "WEBCHAT_LIMIT_WINDOW_SECONDS: a window must be longer than 0" in str(e.value)
    assert "WEBCHAT_MESSAGES_PER_ADDRESS" in str(e.value)


def test_on_azure_the_token_secret_must_be_set_and_not_the_local_one():
    values = {k: v for k, v in sample().items() if k != "WEBCHAT_TOKEN_SECRET"}
    on_azure = {**values, "WEBSITE_INSTANCE_ID": "0123abcd"}
    for env in (on_azure, {**on_azure, "WEBCHAT_TOKEN_SECRET": LOCAL_WEBCHAT_TOKEN_SECRET}):
        with pytest.raises(SettingsError, match="WEBCHAT_TOKEN_SECRET must be set on Azure"):
            Settings.from_env(env)
    with pytest.raises(SettingsError, match="WEBCHAT_TOKEN_SECRET must be at least 32 characters"):
        Settings.from_env({**values, "WEBCHAT_TOKEN_SECRET": "short"})
    assert Settings.from_env({**on_azure, "WEBCHAT_TOKEN_SECRET": "r" * 40}).webchat_token_secret == "r" * 40
