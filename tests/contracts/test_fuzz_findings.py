"""What the contract fuzzing (and probing around it) found, kept as plain regression tests: each was
a 5xx, or an answer that is not JSON, for a request any stranger can send."""
from __future__ import annotations

import json

import azure.functions as func
import pytest

from adminclient import PASSWORD, Client, make_settings
from core import sendbird


def test_a_signature_header_with_non_ascii_characters_is_refused_not_a_server_error():
    # hmac.compare_digest raises TypeError for non-ASCII strings: the webhook answered 500
    assert not sendbird.signature_ok(b"{}", "token", "\xe9" * 64)


def test_members_that_are_not_a_list_are_ignored():
    event = {"category": sendbird.MESSAGE_SEND, "sender": {"user_id": "customer-1"},
             "payload": {"message_id": 7, "message": "hi"}, "channel": {"channel_url": "c1"}, "members": 5}
    assert sendbird.to_envelope(event, "bot").channel_data["members"] == []


@pytest.mark.parametrize("after", ["nan", "inf", "-inf", "1e400"])
def test_a_web_chat_cursor_that_is_not_finite_is_a_400(after):
    from blueprints.webchat_messages import webchat_replies

    request = func.HttpRequest("GET", "/api/channels/webchat/conversations/c1/messages", body=b"",
                               params={"after": after}, route_params={"conversation_id": "c1"})
    answer = webchat_replies(request)
    assert answer.status_code == 400 and "'after' must be a number" in json.loads(answer.get_body())["error"]


@pytest.mark.parametrize("after", ["nan", "inf"])
def test_an_inbox_cursor_that_is_not_finite_is_a_400(after):
    from admin_site import create_app
    from admin_site.services import build

    services = build(make_settings())
    services.accounts.create("viewer", "viewer", PASSWORD, by="test")
    client = Client(create_app(services=services), "viewer")
    answer = client.get(f"/inbox/c1/turns?after={after}")
    assert answer.status_code == 400 and "'after' must be a number" in answer.get_json()["error"]


@pytest.fixture(scope="module")
def nlu(demo_model):
    from inference_container.app import create_app
    from inference_container.service import Settings

    key = "nlu-key-of-the-fuzz-findings-0123456789abcdef"
    client = create_app(Settings(model_dir=str(demo_model), api_keys=(key,))).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert client.get("/v1/models/nlu").status_code in (200, 503)
    return client


@pytest.mark.parametrize("body, reason", [
    (b'{"text": "hi \\ud800"}', "lone surrogate"),  # UnicodeEncodeError writing the answer: a 500
    (b'{"texts": ["ok", "\\udfff"]}', "lone surrogate"),
    (b"[" * 100_000, "nested too deep"),  # RecursionError in json.loads: a 500
])
def test_nlu_bodies_that_failed_the_service_are_a_400(nlu, body, reason):
    for chunked in (False, True):  # the WSGI fast path, and Flask's view
        unsized = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""} if chunked else {}
        answer = nlu.post("/v1/models/nlu:parse", data=body, content_type="application/json",
                          environ_overrides=unsized)
        assert answer.status_code == 400 and reason in answer.get_json()["error"], (chunked, answer.data[:300])
