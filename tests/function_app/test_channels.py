"""SendBird's bot send API as its reference documents it, and the stand-in that plays it locally.

Reference: Chat Platform API v3, "Send a bot message"
(https://sendbird.com/docs/chat/platform-api/v3/bot/sending-a-bot-message/send-a-bot-message) and
"Error codes" / "Rate limits" (errors are `{"error": true, "code": <six digits>, "message": ...}` with
HTTP 400 or 500; rate limits are HTTP 429 with code 500910 and `X-RateLimit-RetryAfter`). The
constants below are copied from those pages; the adapter is checked against them, and the stand-in
against the same table, so a test passes only if both agree with the reference.
"""
import httpx
import pytest

from core.channels import SendBirdChannel
from devstack.standins.sendbird import sendbird_app
from switchboard.envelope import Envelope
from switchboard.errors import PermanentError, TransientError
from switchboard.retry import RetryPolicy

REQUIRED = {"message", "channel_url", "message_type"}  # "Properties: Required"
OPTIONAL = {"custom_type", "data", "send_push", "mentioned", "mark_as_read", "dedup_id", "created_at"}
# (HTTP status, code, meaning) from the reference's error tables; True: worth retrying.
DOCUMENTED_ERRORS = [
    (400, 400105, False),  # MissingRequiredParameter
    (400, 400100, False),  # UnexpectedParameterType
    (400, 400108, False),  # UnauthorizedRequest
    (400, 400401, False),  # a wrong API token
    (429, 500910, True),   # RateLimitExceeded
    (500, 500901, True),   # a server-side error (5xxxxx)
]
FAST = RetryPolicy(attempts=2, backoff=0.001, max_wait=0.05)


def reply(turn_id="sendbird:9", channel_url="ch"):
    return Envelope(turn_id=turn_id, channel="sendbird", conversation_id=channel_url, user_id="u", text="hi",
                    reply="hello", channel_data={"channel_url": channel_url})


def recording(*answers):
    seen = []

    def handler(request):
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return httpx.MockTransport(handler), seen


def test_the_send_body_has_every_required_property_and_only_documented_ones():
    transport, seen = recording(httpx.Response(200, json={"message_id": 1}))
    SendBirdChannel("http://sb", "token", "bot", policy=FAST, transport=transport).send(reply())
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/v3/bots/bot/send"
    assert request.headers["Api-Token"] == "token"
    body = httpx.Response(200, content=request.content).json()
    assert REQUIRED <= set(body) <= REQUIRED | OPTIONAL
    assert body == {"message_type": "MESG", "message": "hello", "channel_url": "ch", "dedup_id": "sendbird:9"}


@pytest.mark.parametrize("status,code,transient", DOCUMENTED_ERRORS)
def test_errors_are_decided_on_sendbirds_code(status, code, transient):
    transport, seen = recording(httpx.Response(status, json={"error": True, "code": code, "message": "m"},
                                               headers={"X-RateLimit-RetryAfter": "0"}))
    channel = SendBirdChannel("http://sb", "token", "bot", policy=FAST, transport=transport)
    with pytest.raises(TransientError if transient else PermanentError, match=f"code {code}"):
        channel.send(reply())
    assert len(seen) == (FAST.attempts if status in (429, 500) else 1)


def test_a_4xxxxx_code_is_permanent_whatever_the_http_status_and_a_5xxxxx_one_transient():
    for status, code, error in ((500, 400401, PermanentError), (400, 500901, TransientError)):
        transport, _ = recording(httpx.Response(status, json={"error": True, "code": code, "message": "m"}))
        with pytest.raises(error):
            SendBirdChannel("http://sb", "t", "bot", policy=FAST, transport=transport).send(reply())


def test_a_wrong_token_names_the_setting_to_fix():
    transport, _ = recording(httpx.Response(400, json={"error": True, "code": 400401,
                                                       "message": 'Invalid value: "Api-Token".'}))
    with pytest.raises(PermanentError, match="400401.*check SENDBIRD_API_TOKEN"):
        SendBirdChannel("http://sb", "wrong", "bot", policy=FAST, transport=transport).send(reply())


def test_an_answer_without_sendbirds_body_is_decided_on_the_http_status():
    for status, error in ((502, TransientError), (403, PermanentError)):
        transport, _ = recording(httpx.Response(status, text="<html>gateway</html>"))
        with pytest.raises(error, match=f"HTTP {status}"):
            SendBirdChannel("http://sb", "t", "bot", policy=FAST, transport=transport).send(reply())


def test_a_rate_limit_is_retried_after_the_time_sendbird_asks_for():
    transport, seen = recording(
        httpx.Response(429, json={"error": True, "code": 500910, "message": "Too many requests."},
                       headers={"X-RateLimit-RetryAfter": "0.01"}),
        httpx.Response(200, json={"message_id": 1}))
    SendBirdChannel("http://sb", "token", "bot", policy=FAST, transport=transport).send(reply())
    assert len(seen) == 2


def test_a_retry_after_beyond_the_step_budget_goes_back_to_the_queue():
    transport, seen = recording(httpx.Response(429, json={"error": True, "code": 500910, "message": "slow down"},
                                               headers={"X-RateLimit-RetryAfter": "60"}))
    with pytest.raises(TransientError):
        SendBirdChannel("http://sb", "token", "bot", policy=FAST, transport=transport).send(reply())
    assert len(seen) == 1


# ---- the stand-in against the same reference --------------------------------------------------------
@pytest.fixture
def standin():
    return httpx.Client(transport=httpx.WSGITransport(app=sendbird_app("token")), base_url="http://sb")


def test_the_stand_in_takes_what_the_adapter_sends_and_keeps_one_message_per_dedup_id(standin):
    channel = SendBirdChannel("http://sb", "token", "bot", policy=FAST,
                              transport=httpx.WSGITransport(app=standin._transport.app))
    channel.send(reply())
    channel.send(reply())  # a retried delivery
    sent = standin.get("/__standin/sent").json()
    assert [m["message"] for m in sent["messages"]] == ["hello"] and sent["repeats"] == {"sendbird:9": 1}


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_the_stand_in_refuses_a_body_without_a_required_property(standin, missing):
    body = {"message_type": "MESG", "message": "hello", "channel_url": "ch"}
    del body[missing]
    answer = standin.post("/v3/bots/bot/send", json=body, headers={"Api-Token": "token"})
    assert answer.status_code == 400
    assert answer.json() == {"error": True, "code": 400105, "message": f'"{missing}" must be required.'}


def test_the_stand_in_refuses_a_wrong_token_as_sendbird_does(standin):
    answer = standin.post("/v3/bots/bot/send", headers={"Api-Token": "nope"},
                          json={"message_type": "MESG", "message": "hello", "channel_url": "ch"})
    assert (answer.status_code, answer.json()["code"], answer.json()["error"]) == (400, 400401, True)


@pytest.mark.parametrize("status,code,transient", [e for e in DOCUMENTED_ERRORS if e[2]])
def test_the_stand_ins_faults_carry_the_documented_codes(standin, status, code, transient):
    standin.post("/__standin/faults", json={"status": status, "count": 1, "retry_after": 0})
    answer = standin.post("/v3/bots/bot/send", headers={"Api-Token": "token"},
                          json={"message_type": "MESG", "message": "hello", "channel_url": "ch"})
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["X-RateLimit-RetryAfter"] == "0"
