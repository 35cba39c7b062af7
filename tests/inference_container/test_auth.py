"""The NLU service takes no anonymous call: every route but the probes and the document needs
`Authorization: Bearer <key>`, a key of NLU_API_KEYS (two while a key is rotated), on Flask's routes
and on the WSGI fast path alike; a refusal is a 401 with a reason and a Bearer challenge, and the key
is in no answer and no log line. Without a valid key setting the service does not start."""
from __future__ import annotations

import io
import json
import logging
import time

import pytest

from inference_container.app import (
    ParseFastPath,
    api_keys_problem,
    create_app,
    credential_problem,
    read_api_keys,
    settings_from_env,
)
from inference_container.service import Settings

KEY = "nlu-key-of-the-auth-tests-0123456789abcdef"
NEXT_KEY = "the-next-key-while-rotating-0123456789abcdef"  # old and new accepted together
WRONG = "a-key-this-service-never-had-0123456789abcdef"
PARSE = "/v1/models/nlu:parse"
BODY = json.dumps({"text": "where is my order B-5521"}).encode()
UNSIZED = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}  # chunked: Flask's view, not the fast path


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def unloaded(tmp_path_factory):
    """A service whose model never loads (the folder is empty): what the credential check answers does
    not depend on a model, and no model is trained for these tests."""
    app = create_app(Settings(model_dir=str(tmp_path_factory.mktemp("no-model")), api_keys=(KEY, NEXT_KEY),
                              ready_wait_seconds=0))
    return app.test_client()


@pytest.fixture(scope="module")
def served(demo_model):
    app = create_app(Settings(model_dir=str(demo_model), api_keys=(KEY, NEXT_KEY)))
    client = app.test_client()
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").get_json()
        time.sleep(0.05)
    return client


def parse(client, headers=None, sized=True):
    return client.post(PARSE, data=BODY, content_type="application/json", headers=headers or {},
                       environ_overrides={} if sized else UNSIZED)


def assert_refused(answer, reason: str) -> None:
    assert answer.status_code == 401, (answer.status_code, answer.data[:300])
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.is_json and answer.get_json() == {"error": answer.get_json()["error"], "status": 401}
    assert reason in answer.get_json()["error"]
    for key in (KEY, NEXT_KEY, WRONG):
        assert key not in answer.get_data(as_text=True)


# ---- refused ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sized", [True, False], ids=["fast path", "flask view"])
def test_parse_without_a_credential_is_a_401_with_the_reason_and_a_bearer_challenge(unloaded, sized):
    assert_refused(parse(unloaded, sized=sized), "no credential: send the header 'Authorization: Bearer <key>'")


@pytest.mark.parametrize("sized", [True, False], ids=["fast path", "flask view"])
@pytest.mark.parametrize("authorization, reason", [
    (f"Bearer {WRONG}", "the credential is not valid"),
    (f"Bearer {KEY[:-1]}", "the credential is not valid"),  # one character short
    (f"Bearer {KEY}x", "the credential is not valid"),
    (f"Bearer {KEY},{NEXT_KEY}", "the credential is not valid"),  # the setting's form is not a credential
    (f"Basic {KEY}", "must be 'Bearer <key>'"),
    (KEY, "must be 'Bearer <key>'"),
    ("Bearer ", "must be 'Bearer <key>'"),
    ("Bearer \u00e9t\u00e9", "the credential is not valid"),  # not ASCII: refused, not a 500
], ids=["wrong", "short", "long", "both keys", "basic", "no scheme", "empty", "latin-1"])
def test_a_wrong_credential_is_a_401(unloaded, sized, authorization, reason):
    assert_refused(parse(unloaded, {"Authorization": authorization}, sized), reason)


@pytest.mark.parametrize("method, path", [("GET", "/v1/models/nlu"), ("GET", "/v1/models/nope"),
                                          ("GET", PARSE), ("DELETE", "/v1/models/nlu")])
def test_every_other_route_and_any_path_needs_it_too(unloaded, method, path):
    """An unknown path or method is a 401 before it is a 404 or 405: a stranger learns no routes."""
    assert_refused(unloaded.open(path, method=method), "no credential")
    assert_refused(unloaded.open(path, method=method, headers=bearer(WRONG)), "not valid")
    assert unloaded.open(path, method=method, headers=bearer(KEY)).status_code != 401


def test_an_oversized_body_without_a_credential_is_refused_before_it_is_read(unloaded):
    answer = unloaded.post(PARSE, data=b"x" * (600 * 1024), content_type="application/json")
    assert_refused(answer, "no credential")
    assert unloaded.post(PARSE, data=b"x" * (600 * 1024), content_type="application/json",
                         headers=bearer(KEY)).status_code == 413


def test_the_fast_path_refuses_before_the_service_or_flask_is_reached():
    """ParseFastPath alone: without the key, neither the app behind it nor the model is called."""
    def behind(environ, start_response):
        raise AssertionError("the request went on to Flask")

    class NoService:
        def parse(self, texts):
            raise AssertionError("the model was called")

    answered = {}
    fast = ParseFastPath(behind, NoService(), 512 * 1024, (KEY,))
    environ = {"PATH_INFO": PARSE, "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(BODY)),
               "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(BODY),
               "HTTP_AUTHORIZATION": f"Bearer {WRONG}"}
    body = b"".join(fast(environ, lambda status, headers: answered.update(status=status, headers=dict(headers))))
    assert answered["status"] == "401 Unauthorized" and answered["headers"]["WWW-Authenticate"] == "Bearer"
    assert json.loads(body) == {"error": "the credential is not valid", "status": 401}
    assert environ["wsgi.input"].tell() == 0  # the body was not read


def test_a_refusal_is_logged_with_its_reason_and_never_the_key(unloaded, caplog):
    with caplog.at_level(logging.DEBUG):
        parse(unloaded, bearer(WRONG))
        parse(unloaded, bearer(WRONG), sized=False)
        unloaded.get("/v1/models/nlu", headers={"Authorization": f"Basic {NEXT_KEY}"})
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused ")]
    assert refusals == [f"refused POST {PARSE}: the credential is not valid"] * 2 + [
        "refused GET /v1/models/nlu: the Authorization header must be 'Bearer <key>'"]
    for key in (KEY, NEXT_KEY, WRONG):
        assert key not in caplog.text


# ---- open ---------------------------------------------------------------------------------------

def test_the_probes_and_the_document_need_no_credential(served):
    assert served.get("/healthz").get_json() == {"status": "ok"}
    assert served.get("/readyz").status_code == 200
    answer = served.get("/openapi.json")
    assert answer.status_code == 200 and answer.get_json()["info"]["title"] == "Switchboard NLU service"


def test_the_probes_answer_while_loading_without_a_credential(unloaded):
    assert unloaded.get("/healthz").status_code == 200
    assert unloaded.get("/readyz").status_code == 503  # the folder holds no model: not ready, not refused
    assert unloaded.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("sized", [True, False], ids=["fast path", "flask view"])
def test_either_key_is_served(served, sized):
    """Rotation: the old key and the new one are both accepted until the old one is taken out."""
    for key in (KEY, NEXT_KEY):
        answer = parse(served, bearer(key), sized)
        assert answer.status_code == 200 and answer.get_json()["intent"]["name"] == "order_status"
        assert served.get("/v1/models/nlu", headers=bearer(key)).status_code == 200
    assert parse(served, {"Authorization": f"bearer   {KEY} "}, sized).status_code == 200  # the scheme's case


# ---- the setting --------------------------------------------------------------------------------

def test_the_keys_come_from_nlu_api_keys_comma_separated():
    assert read_api_keys(f" {KEY} , {NEXT_KEY},, ") == (KEY, NEXT_KEY)
    assert read_api_keys("") == read_api_keys(None) == ()
    settings = settings_from_env({"NLU_MODEL_DIR": "m", "NLU_API_KEYS": f"{KEY},{NEXT_KEY}"})
    assert settings.api_keys == (KEY, NEXT_KEY)
    assert KEY not in repr(settings)  # a Settings printed or logged shows no key


@pytest.mark.parametrize("keys, problem", [
    ((), "set NLU_API_KEYS: one or more keys"),
    (("too-short",), "NLU_API_KEYS: key 1 of 1 is shorter than 32 characters"),
    ((KEY, "x" * 31), "NLU_API_KEYS: key 2 of 2 is shorter than 32 characters"),
])
def test_the_service_refuses_to_start_without_a_key_or_with_a_short_one(tmp_path, keys, problem):
    with pytest.raises(SystemExit) as e:
        create_app(Settings(model_dir=str(tmp_path), api_keys=keys))
    message = str(e.value)
    assert problem in message and "\n" not in message
    assert all(key not in message for key in keys)
    assert api_keys_problem(keys) == message


def test_the_service_starts_from_its_environment_with_the_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("NLU_MODEL_DIR", str(tmp_path))
    monkeypatch.delenv("NLU_REGISTRY", raising=False)
    monkeypatch.delenv("NLU_API_KEYS", raising=False)
    with pytest.raises(SystemExit, match="set NLU_API_KEYS"):
        create_app()
    monkeypatch.setenv("NLU_API_KEYS", f"{KEY},{NEXT_KEY}")
    client = create_app().test_client()
    assert_refused(client.get("/v1/models/nlu"), "no credential")
    assert client.get("/v1/models/nlu", headers=bearer(NEXT_KEY)).status_code == 503  # past the check: no model


def test_the_check_compares_against_every_key():
    assert credential_problem(f"Bearer {NEXT_KEY}", (KEY, NEXT_KEY)) is None
    assert credential_problem(f"Bearer {KEY}", (KEY, NEXT_KEY)) is None
    assert credential_problem(f"Bearer {WRONG}", (KEY, NEXT_KEY)) == "the credential is not valid"
    assert credential_problem(f"Bearer {KEY}", ()) == "the credential is not valid"
