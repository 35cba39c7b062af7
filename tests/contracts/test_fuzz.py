"""Contract fuzzing: Schemathesis sends each documented operation of each running service generated
requests, valid and invalid (`MAX_EXAMPLES` per operation, derandomized so `make test` is repeatable),
and checks every answer: no server error (5xx), a documented status code, content type and headers,
a body that conforms to the documented schema, and the service's process still running afterwards.

The signature-checked SendBird webhook is sent each body twice: as generated (no signature, or a
made-up one: 401, never a 5xx) and correctly signed (HMAC-SHA256 of the exact bytes sent). The web chat
and agent routes likewise: as generated, and with the conversation's token / the agent token."""
from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.sendbird import signature
from core.webchat import conversation_token
from openapi_docs import ADMIN_DOCUMENT, FUNCTIONS_DOCUMENT, NLU_DOCUMENT, load

# per operation, besides Schemathesis' coverage cases (boundaries, other methods); bench/fuzz.py runs
# more, with fresh random draws (FUZZ_RANDOM=1)
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"), database=None,
                suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
TIMEOUT = 15
SEEN: dict[tuple[str, str, bool], set[int]] = {}  # (method, path, with credentials) -> statuses answered

nlu_schema = schemathesis.openapi.from_path(NLU_DOCUMENT)
functions_schema = schemathesis.openapi.from_path(FUNCTIONS_DOCUMENT)
admin_schema = schemathesis.openapi.from_path(ADMIN_DOCUMENT)
admin_schema.config.generation.update(with_security_parameters=False)  # the logged-in session's cookie


def alive(stack, name: str) -> None:
    proc = stack.procs[name]
    assert proc.poll() is None, f"{name} exited with {proc.returncode}; see {stack.log_path(name)}"


class Header(requests.auth.AuthBase):
    """Sets one header as the request leaves (after the generated headers), optionally from its body."""

    def __init__(self, name: str, value=None, of_body=None) -> None:
        self.name, self.value, self.of_body = name, value, of_body

    def __call__(self, request):
        body = request.body or b""
        request.headers[self.name] = self.value if self.of_body is None else self.of_body(
            body.encode() if isinstance(body, str) else body)
        return request


def test_the_running_services_serve_their_documents(fuzz_stack):
    p = fuzz_stack.ports
    for url, path in ((f"http://127.0.0.1:{p.nlu}/openapi.json", NLU_DOCUMENT),
                      (f"http://127.0.0.1:{p.functions}/api/openapi.json", FUNCTIONS_DOCUMENT),
                      (f"http://127.0.0.1:{p.admin}/openapi.json", ADMIN_DOCUMENT)):
        assert schemathesis.openapi.from_url(url).raw_schema == load(path), url


@nlu_schema.parametrize()
@FUZZ
def test_nlu_service(case, fuzz_stack):
    """Each case as generated (no key, or a made-up one: 401 where the document asks for the key), then
    with the stack's key, so the fuzzing reaches what the check guards."""
    base_url = f"http://127.0.0.1:{fuzz_stack.ports.nlu}"
    answer = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=TIMEOUT)
    SEEN.setdefault((case.method, case.path, False), set()).add(answer.status_code)
    if case.operation.definition.raw.get("security"):
        answer = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=TIMEOUT,
                                        auth=Header("Authorization", f"Bearer {fuzz_stack.nlu_api_key}"))
        SEEN.setdefault((case.method, case.path, True), set()).add(answer.status_code)
    alive(fuzz_stack, "nlu")


def test_the_nlu_fuzzing_got_past_the_key_check_only_with_the_key(fuzz_stack):
    """Run after test_nlu_service (it fuzzes when run alone too): without the key the protected operations
    answered 401 and nothing else; with it, the parse and the description answered."""
    for operation in (result.ok() for result in nlu_schema.get_all_operations()):
        if (operation.method.upper(), operation.path, False) not in SEEN:
            @given(case=operation.as_strategy())
            @FUZZ
            def fuzz(case):
                test_nlu_service(case, fuzz_stack)
            fuzz()
    parse, describe = ("POST", "/v1/models/nlu:parse"), ("GET", "/v1/models/nlu")
    for operation in (parse, describe):
        assert SEEN[(*operation, False)] == {401}, SEEN[(*operation, False)]
    assert 200 in SEEN[(*parse, True)] and 400 in SEEN[(*parse, True)], SEEN[(*parse, True)]
    assert SEEN[(*describe, True)] == {200}, SEEN[(*describe, True)]


def _conversation_of(case) -> str | None:
    if case.path_parameters and isinstance(case.path_parameters.get("conversation_id"), str):
        return case.path_parameters["conversation_id"]
    if isinstance(case.body, dict) and isinstance(case.body.get("conversation_id"), str):
        return case.body["conversation_id"]
    return None


@functions_schema.parametrize()
@FUZZ
def test_function_app(case, fuzz_stack):
    base_url, settings_ = f"http://127.0.0.1:{fuzz_stack.ports.functions}/api", fuzz_stack.settings
    answer = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=TIMEOUT)  # credentials as generated
    SEEN.setdefault((case.method, case.path, False), set()).add(answer.status_code)
    if case.path == "/channels/sendbird/webhook":
        token = settings_["SENDBIRD_API_TOKEN"]
        auth = Header("x-sendbird-signature", of_body=lambda body: signature(body, token))
    elif case.path.startswith("/channels/webchat/") and _conversation_of(case) is not None:
        token = conversation_token(settings_["WEBCHAT_TOKEN_SECRET"], _conversation_of(case))
        auth = Header("Authorization", f"Bearer {token}")
    elif case.path.startswith("/conversations/"):
        auth = Header("x-agent-token", settings_["AGENT_API_TOKEN"])
    else:
        auth = None
    if auth is not None:  # and with the right credentials
        answer = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=TIMEOUT, auth=auth)
        SEEN.setdefault((case.method, case.path, True), set()).add(answer.status_code)
    alive(fuzz_stack, "functions")


@admin_schema.parametrize()
@FUZZ
def test_admin_site_json_endpoints(case, fuzz_stack, admin_session):
    base_url = f"http://127.0.0.1:{fuzz_stack.ports.admin}"
    case.call_and_validate(base_url=base_url, session=admin_session, checks=CHECKS, timeout=TIMEOUT,
                           allow_redirects=False)
    alive(fuzz_stack, "admin")


@pytest.fixture(scope="module")
def seen(fuzz_stack) -> dict[tuple[str, str, bool], set[int]]:
    """SEEN once every operation of the function app is fuzzed: those test_function_app has not fuzzed in
    this session (the check run alone, or first) are fuzzed here through its body, with generated cases."""
    for operation in (result.ok() for result in functions_schema.get_all_operations()):
        if (operation.method.upper(), operation.path, False) in SEEN:
            continue

        @given(case=st.one_of([operation.as_strategy(mode) for mode in schemathesis.GenerationMode]))
        @FUZZ
        def fuzz(case):
            test_function_app(case, fuzz_stack)
        fuzz()
    return SEEN


def test_the_fuzzing_got_past_the_credential_checks(seen):
    """Signed webhooks were accepted (200) and unsigned ones never were; the web chat and agent routes
    answered more than 401/403 with credentials (the fuzzing reached the code behind the checks)."""
    webhook = "POST", "/channels/sendbird/webhook"
    assert 200 not in seen[(*webhook, False)] and 401 in seen[(*webhook, False)], seen
    assert 200 in seen[(*webhook, True)], seen
    assert 202 in seen[("POST", "/channels/webchat/messages", True)], seen
    assert 200 in seen[("GET", "/channels/webchat/conversations/{conversation_id}/messages", True)], seen
    assert seen[("POST", "/conversations/{conversation_id}/release", True)] - {401}, seen
    assert seen[("POST", "/conversations/{conversation_id}/messages", True)] - {401}, seen
