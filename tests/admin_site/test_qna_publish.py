"""Publishing QnA pairs through the authoring API of Azure AI Language custom question answering,
against the QnA stand-in (devstack/standins.py `qna_app`) and the bot's own runtime client.

The protocol asserted on the wire is the documented one: REST reference "Question Answering Projects"
(learn.microsoft.com/rest/api/cognitiveservices/questionanswering/question-answering-projects/
update-qnas, get-qnas, get-update-qnas-status, deploy-project, get-deploy-status;
view=rest-questionanswering-2021-10-01), its OpenAPI file (Azure/azure-rest-api-specs,
specification/cognitiveservices/data-plane/Language/stable/2021-10-01/questionanswering-authoring.json
and its examples SuccessfulUpdateQnas.json, SuccessfulGetQnas.json), the how-to "Authoring API"
(azure/ai-services/language-service/question-answering/how-to/authoring: `operation-location` ends
in the job id; a request needs `?api-version=2021-10-01`) and "Project limits and boundaries"
(concepts/limits: 1,000 QnAs per update call; metadata values without ':' or '|').
"""
from __future__ import annotations

import json
from urllib.parse import urlparse

import httpx
import pytest

from admin_site.qna_publish import (
    PAIR_KEY,
    AzurePublisher,
    MemoryPublisher,
    Pair,
    PublishError,
    batches,
    catalogue_id,
    make_publisher,
    plan,
)
from adminclient import make_settings
from core.clients import QnaClient
from devstack.standins import DATA
from devstack.standins.qna import qna_app
from switchboard.retry import RetryPolicy

KEY, PROJECT = "qna-key", "retail-faq"
SEED = json.loads((DATA / "qna.json").read_text())
FAST = RetryPolicy(attempts=4, backoff=0.0, max_wait=1.0)


class Recorder(httpx.BaseTransport):
    """Passes requests to the stand-in, keeps them, and can answer some itself first (faults)."""

    def __init__(self, inner: httpx.BaseTransport, faults: list | None = None) -> None:
        self.inner, self.faults, self.requests = inner, faults or [], []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for fault in self.faults:
            if fault["when"](request) and fault["count"] > 0:
                fault["count"] -= 1
                return httpx.Response(fault["status"], headers=fault.get("headers", {}), json=fault.get("json", {}))
        return self.inner.handle_request(request)

    def calls(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


@pytest.fixture
def service():
    app = qna_app(KEY, project=PROJECT, job_seconds=0.05, page_size=4)
    return Recorder(httpx.WSGITransport(app=app))


def publisher(transport, **options) -> AzurePublisher:
    options = {"policy": FAST, "poll_interval": 0.01, "job_timeout": 5.0, **options}
    return AzurePublisher("http://qna.test", options.pop("key", KEY), PROJECT, "production", transport=transport,
                          **options)


def bot(transport) -> QnaClient:
    return QnaClient("http://qna.test", KEY, PROJECT, "production", transport=transport)


def seeded() -> list[dict]:
    """The catalogue's pairs as its seed makes them from devstack/data/qna.json."""
    return [{"id": f"qna-{p['id']}", "questions": p["questions"], "answer": p["answer"]} for p in SEED]


# ---- the plan (pure) ---------------------------------------------------------------------------------
def test_the_plan_adds_the_new_replaces_the_changed_and_deletes_the_gone():
    current = [{"id": 1, "answer": "a1", "questions": ["q1"]},
               {"id": 2, "answer": "a2", "questions": ["q2"]},
               {"id": 5, "answer": "old", "questions": ["q5"], "metadata": {PAIR_KEY: "qna-x", "topic": "t"}}]
    pairs = [Pair("qna-1", ("q1",), "a1"), Pair("qna-x", ("q5", "q5b"), "new"), Pair("qna-y", ("qy",), "ay")]
    todo = plan(pairs, current)
    assert (todo.added, todo.replaced, todo.deleted, todo.unchanged) == (1, 1, 1, 1)
    ops = {op["op"]: op["value"] for op in todo.ops}
    assert ops["delete"]["id"] == 2
    assert ops["replace"] == {"id": 5, "answer": "new", "questions": ["q5", "q5b"],
                              "metadata": {PAIR_KEY: "qna-x", "topic": "t"}}  # what others set stays
    assert "id" not in ops["add"] and ops["add"]["metadata"] == {PAIR_KEY: "qna-y"}  # the service numbers it


def test_a_qna_stands_for_its_metadata_pair_or_else_qna_its_id_and_a_second_one_for_a_pair_goes():
    assert catalogue_id({"id": 3, "metadata": {}}) == "qna-3"
    assert catalogue_id({"id": 9, "metadata": {PAIR_KEY.upper(): "QNA-AB12"}}) == "qna-ab12"  # lower case
    twice = [{"id": 3, "answer": "a", "questions": ["q"]},
             {"id": 9, "answer": "a", "questions": ["q"], "metadata": {PAIR_KEY: "qna-3"}}]
    todo = plan([Pair("qna-3", ("q",), "a")], twice)
    assert [(op["op"], op["value"]["id"]) for op in todo.ops] == [("delete", 9)] and todo.unchanged == 1


def test_updates_go_in_calls_of_at_most_1000_qnas():
    assert [len(b) for b in batches([{}] * 2001)] == [1000, 1000, 1]


# ---- against the stand-in -----------------------------------------------------------------------------
def test_publishing_the_seed_changes_nothing_and_deploys(service):
    result = publisher(service).publish(seeded())
    assert (result.added, result.replaced, result.deleted, result.unchanged) == (0, 0, 0, len(SEED))
    assert result.deployment == "production" and len(result.jobs) == 1
    assert not service.calls("PATCH") and len(service.calls("PUT")) == 1


def test_publish_adds_changes_and_removes_and_the_bot_answers_what_was_deployed(service):
    pairs = seeded()
    pairs = [{**pairs[0], "answer": "We are open 24 hours, every day."}] + pairs[2:] + [
        {"id": "qna-3f9a1c2b7d", "questions": ["Do you sell socks?", "Have you got socks?"],
         "answer": "Yes, wool socks."}]
    result = publisher(service).publish(pairs)
    assert (result.added, result.replaced, result.deleted) == (1, 1, 1) and len(result.jobs) == 2
    answers = bot(service)
    assert answers.ask("have you got socks").text == "Yes, wool socks."
    assert answers.ask("what are your opening hours").text == "We are open 24 hours, every day."
    assert answers.ask("what is your return policy") is None  # deleted, and no other pair is close
    again = publisher(service).publish(pairs)  # the ids stayed mapped: nothing to do the second time
    assert (again.added, again.replaced, again.deleted, again.unchanged) == (0, 0, 0, len(pairs))


def test_an_edit_not_yet_deployed_is_not_answered(service):
    pairs = seeded() + [{"id": "qna-new", "questions": ["Do you sell socks?"], "answer": "Yes, wool socks."}]
    service.faults.append({"when": lambda r: r.method == "PUT", "count": 99, "status": 503})
    with pytest.raises(PublishError, match=r"deploying to production: question answering answered 503"):
        publisher(service).publish(pairs)
    assert any(q["answer"] == "Yes, wool socks." for q in publisher(service).qnas())  # the project has it
    assert bot(service).ask("do you sell socks") is None  # the deployment does not
    service.faults.clear()
    assert publisher(service).publish(pairs).added == 0  # already in the project: only deployed now
    assert bot(service).ask("do you sell socks").text == "Yes, wool socks."


def test_the_requests_are_the_documented_ones(service):
    pairs = seeded()[1:] + [{"id": "qna-new", "questions": ["Do you sell socks?"], "answer": "Yes."}]
    publisher(service).publish(pairs)
    for request in service.requests:
        assert request.headers["Ocp-Apim-Subscription-Key"] == KEY
        assert request.url.params["api-version"] == "2021-10-01"
        assert request.url.path.startswith(f"/language/query-knowledgebases/projects/{PROJECT}/")
    listing = service.calls("GET")[:2]
    assert listing[0].url.path.endswith("/qnas") and listing[1].url.params.get("skip") == "4"  # nextLink followed
    (update,) = service.calls("PATCH")
    assert update.url.path == f"/language/query-knowledgebases/projects/{PROJECT}/qnas"
    body = json.loads(update.content)
    assert body == [{"op": "delete",
                     "value": {"id": 1, "answer": SEED[0]["answer"], "questions": SEED[0]["questions"]}},
                    {"op": "add", "value": {"answer": "Yes.", "questions": ["Do you sell socks?"],
                                            "metadata": {PAIR_KEY: "qna-new"}}}]
    (deploy,) = service.calls("PUT")
    assert deploy.url.path == f"/language/query-knowledgebases/projects/{PROJECT}/deployments/production"
    polls = [urlparse(str(r.url)).path for r in service.calls("GET") if "/jobs/" in r.url.path]
    assert any("/qnas/jobs/" in p for p in polls) and any("/deployments/production/jobs/" in p for p in polls)


def test_429_and_5xx_are_retried_after_retry_after(service):
    service.faults += [{"when": lambda r: r.method == "PATCH", "count": 2, "status": 429,
                        "headers": {"Retry-After": "0"},
                        "json": {"error": {"code": "TooManyRequests", "message": "slow"}}},
                       {"when": lambda r: r.method == "PUT", "count": 1, "status": 500}]
    result = publisher(service).publish(seeded()[1:])
    assert result.deleted == 1 and len(service.calls("PATCH")) == 3 and len(service.calls("PUT")) == 2


def test_a_refusal_names_the_services_message(service):
    with pytest.raises(PublishError, match="answered 401: 401: Access denied due to invalid subscription key"):
        publisher(service, key="wrong").publish(seeded())
    service.faults.append({"when": lambda r: r.method == "PATCH", "count": 1, "status": 400,
                           "json": {"error": {"code": "InvalidRequest", "message": "Invalid update QnAs request",
                                              "details": [{"code": "InvalidArgument", "message": "bad answer"}]}}})
    with pytest.raises(PublishError, match=r"updating the project's QnAs: .*400: InvalidRequest: Invalid update "
                                           r"QnAs request \(InvalidArgument: bad answer\)"):
        publisher(service).publish(seeded()[1:])


def test_a_failed_job_is_an_error_naming_the_job_and_its_errors(service):
    failed = {"jobId": "j1", "status": "failed", "createdDateTime": "2021-05-01T17:21:14Z",
              "lastUpdatedDateTime": "2021-05-01T17:21:14Z",
              "errors": [{"code": "InvalidArgument", "message": "QnA 1 does not exist"}]}
    service.faults.append({"when": lambda r: "/qnas/jobs/" in r.url.path, "count": 1, "status": 200, "json": failed})
    with pytest.raises(PublishError, match=r"job \S+ failed: InvalidArgument: QnA 1 does not exist"):
        publisher(service).publish(seeded()[1:])
    assert not service.calls("PUT")  # not deployed after a failed update


def test_a_job_that_does_not_finish_in_time_is_an_error():
    slow = Recorder(httpx.WSGITransport(app=qna_app(KEY, project=PROJECT, job_seconds=30)))
    with pytest.raises(PublishError, match=r"deploying to production: job \S+ was still (notStarted|running) after"):
        publisher(slow, job_timeout=0.2).publish(seeded())


def test_an_unreachable_service_is_an_error_not_a_crash():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)
    with pytest.raises(PublishError, match="did not answer"):
        publisher(httpx.MockTransport(refuse)).publish(seeded())


def test_pairs_the_service_would_refuse_are_named_before_anything_is_sent(service):
    bad = seeded() + [{"id": "qna-long", "questions": ["q" * 1001], "answer": "a"},
                      {"id": "qna:odd", "questions": ["q"], "answer": "a"}]
    with pytest.raises(PublishError, match=r"nothing was published: pair qna-long: question 1 has 1,001 characters.*"
                                           r"pair qna:odd: its id cannot be kept"):
        publisher(service).publish(bad)
    assert not service.requests


def test_without_an_endpoint_the_site_publishes_to_memory_and_with_one_to_azure():
    memory = make_publisher(make_settings())
    assert isinstance(memory, MemoryPublisher)
    result = memory.publish(seeded())
    assert result.added == len(SEED) and len(memory.deployed) == len(SEED)
    assert memory.publish(seeded()[1:]).deleted == 1
    azure = make_publisher(make_settings(qna_endpoint="https://x.cognitiveservices.azure.com", qna_api_key="k",
                                       qna_project="p"))
    assert isinstance(azure, AzurePublisher) and azure.name == "p/production"
    missing = make_publisher(make_settings(qna_endpoint="https://x.cognitiveservices.azure.com"))
    with pytest.raises(PublishError, match="QNA_API_KEY, QNA_PROJECT not set"):
        missing.publish(seeded())
