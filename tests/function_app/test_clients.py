"""The HTTP adapters over httpx, with the transport as the test seam (no patching)."""
import logging

import httpx
import pytest

from core import steps
from core.clients import NluClient, QnaClient, ShopClient
from switchboard.errors import PermanentError, TransientError
from switchboard.retry import RetryPolicy

FAST = RetryPolicy(attempts=3, backoff=0.001)
NLU_KEY = "nlu-key-of-the-unit-tests-0123456789abcdef"


def scripted(*responses):
    """A transport answering with the given responses (or raising the given exceptions) in turn."""
    seen = []

    def handler(request):
        seen.append(request)
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


def test_nlu_retries_timeouts_5xx_and_429_then_succeeds():
    transport, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(503), httpx.Response(200, json={"x": 1}))
    assert NluClient("http://nlu", NLU_KEY, 1.0, FAST, transport).parse("hi") == {"x": 1}
    assert len(seen) == 3 and seen[0].url.path == "/v1/models/nlu:parse"


def test_nlu_that_keeps_failing_is_a_transient_error():
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "0"}))
    with pytest.raises(TransientError, match="the NLU service answered 429"):
        NluClient("http://nlu", NLU_KEY, 1.0, FAST, transport).parse("hi")
    assert len(seen) == 3


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_timeouts_throttling_and_server_errors_are_retried_then_transient(status):
    transport, seen = scripted(httpx.Response(status, headers={"Retry-After": "0"}))
    shop = ShopClient("http://shop", "k", policy=FAST, transport=transport)
    with pytest.raises(TransientError, match=f"the shop API answered {status}"):
        shop.get_order("A-1")
    assert len(seen) == 3


@pytest.mark.parametrize("client,call", [
    (lambda t: NluClient("http://nlu", NLU_KEY, 1.0, FAST, t), lambda c: c.parse(" ")),
    (lambda t: ShopClient("http://shop", "k", policy=FAST, transport=t), lambda c: c.get_order("A-1")),
    (lambda t: ShopClient("http://shop", "k", policy=FAST, transport=t),
     lambda c: c.search_products(query="x", brand=None, colour=None, limit=3)),
    (lambda t: QnaClient("http://qna", "k", "p", "d", policy=FAST, transport=t), lambda c: c.ask("hours?")),
])
@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_any_other_4xx_is_permanent_at_once_with_the_service_and_its_reason(client, call, status):
    """The error names the service, the status and its reason, never the answer's body: it goes to the
    turn log and the logs, and a service may quote what the customer asked."""
    transport, seen = scripted(httpx.Response(status, json={"error": "no product like 'my secret words'"}))
    with pytest.raises(PermanentError, match=rf"answered {status} [A-Z]") as e:
        call(client(transport))
    assert "secret" not in str(e.value)
    assert len(seen) == 1  # not retried: it would be refused again


def test_nlu_sends_its_key_as_a_bearer_token_on_every_attempt():
    transport, seen = scripted(httpx.Response(503), httpx.Response(200, json={"x": 1}))
    NluClient("http://nlu", NLU_KEY, 1.0, FAST, transport).parse("hi")
    assert [r.headers.get("Authorization") for r in seen] == [f"Bearer {NLU_KEY}"] * 2


def test_nlu_refusing_the_key_is_permanent_at_once_and_says_so_without_the_key():
    transport, seen = scripted(httpx.Response(401, headers={"WWW-Authenticate": "Bearer"},
                                              json={"error": "the credential is not valid", "status": 401}))
    with pytest.raises(PermanentError, match=r"the NLU service refused the credential \(NLU_API_KEY") as e:
        NluClient("http://nlu", NLU_KEY, 1.0, FAST, transport).parse("hi")
    assert len(seen) == 1  # not retried: the same key is refused again
    assert NLU_KEY not in str(e.value)


def test_a_turn_the_nlu_service_refuses_the_key_for_gets_the_apology_and_a_log_line_saying_why(pipeline, deps,
                                                                                               caplog):
    """What the turn gets when the key is wrong: the path of every permanent NLU failure (one apology,
    no state change), and a log line and turn log entry that name the credential, never the key."""
    transport, seen = scripted(httpx.Response(401, headers={"WWW-Authenticate": "Bearer"},
                                              json={"error": "the credential is not valid", "status": 401}))
    deps.nlu = NluClient("http://nlu", NLU_KEY, 1.0, FAST, transport)
    with caplog.at_level(logging.INFO):
        envelope = pipeline.say("where is my order?")
    assert pipeline.replies() == [steps.FAILED_REPLY] and len(seen) == 1
    assert deps.turn_log.get("c1", envelope.turn_id)["error"].startswith("the NLU service refused the credential")
    assert deps.conversations.load("c1") is None
    [record] = [r for r in caplog.records if "the NLU service refused the credential" in r.getMessage()]
    assert record.levelno == logging.ERROR and envelope.turn_id in record.getMessage()
    assert NLU_KEY not in caplog.text


def test_shop_order_lookup_and_search():
    def handler(request):
        if request.url.path == "/orders/A-1234":
            return httpx.Response(200, json={"order_id": "A-1234", "status": "shipped", "eta": "Monday"})
        if request.url.path == "/products":
            assert request.headers["x-api-key"] == "k"
            assert dict(request.url.params) == {"q": "jeans", "colour": "blue", "limit": "3"}
            return httpx.Response(200, json={"products": [
                {"sku": "J", "name": "501", "brand": "Levi's", "colour": "blue", "price": 89.5}]})
        return httpx.Response(404)

    shop = ShopClient("http://shop", "k", policy=FAST, transport=httpx.MockTransport(handler))
    assert shop.get_order("A-1234").eta == "Monday"
    assert shop.get_order("Z-1") is None
    assert [p.name for p in shop.search_products(query="jeans", brand=None, colour="blue", limit=3)] == ["501"]


def test_qna_speaks_the_question_answering_protocol():
    def handler(request):
        assert request.url.path == "/language/:query-knowledgebases"
        assert request.url.params["projectName"] == "faq" and request.url.params["api-version"] == "2021-10-01"
        assert request.headers["Ocp-Apim-Subscription-Key"] == "k"
        if b"hours" in request.content:
            return httpx.Response(200, json={"answers": [{"answer": "9 to 5", "confidenceScore": 0.8, "id": 1}]})
        return httpx.Response(200, json={"answers": [{"answer": "No good match found in KB.", "id": -1,
                                                      "confidenceScore": 0.0}]})

    qna = QnaClient("http://qna", "k", "faq", "production", policy=FAST, transport=httpx.MockTransport(handler))
    assert qna.ask("opening hours?").text == "9 to 5"
    assert qna.ask("meaning of life?") is None
