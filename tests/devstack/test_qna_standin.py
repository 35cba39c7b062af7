"""The QnA stand-in speaks Azure AI Language custom question answering, api-version 2021-10-01: the
runtime query the bot sends, and the authoring calls the admin site publishes with.

What is checked here is what the documentation says (REST reference "Question Answering Projects",
view=rest-questionanswering-2021-10-01: Update Qnas, Get Qnas, Get Update Qnas Status, Deploy Project,
Get Deploy Status, List Deployments; the OpenAPI file questionanswering-authoring.json of
Azure/azure-rest-api-specs, data-plane/Language/stable/2021-10-01; the how-to "Authoring API" for the
`operation-location` header; "Project limits and boundaries" for the limits):
- every call needs `Ocp-Apim-Subscription-Key` and `api-version`; refusals are `{"error": {"code", "message"}}`;
- PATCH .../qnas takes an array of {"op": add|replace|delete, "value": QnaRecord}, answers 202 with
  `Operation-Location` ending in `/qnas/jobs/{jobId}`; the job's state has jobId, createdDateTime,
  lastUpdatedDateTime, expirationDateTime, status and errors;
- PUT .../deployments/{name} answers 202 with `Operation-Location` ending in `/deployments/{name}/jobs/{jobId}`;
- GET .../qnas is paged: {"value": [...], "nextLink"};
- the runtime query answers from the deployment it names, and only from what was deployed.
"""
from __future__ import annotations

import json
import time

import httpx
import pytest

from devstack.standins import DATA
from devstack.standins.qna import qna_app

KEY, PROJECT, V = "qna-key", "retail-faq", {"api-version": "2021-10-01"}
BASE = f"/language/query-knowledgebases/projects/{PROJECT}"
SEED = json.loads((DATA / "qna.json").read_text())


def client(**options) -> httpx.Client:
    app = qna_app(KEY, project=PROJECT, **options)
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://qna.test",
                        headers={"Ocp-Apim-Subscription-Key": KEY})


def ask(http: httpx.Client, question: str, deployment: str = "production") -> dict:
    answer = http.post("/language/:query-knowledgebases", json={"question": question, "top": 1},
                       params={"projectName": PROJECT, "deploymentName": deployment, **V})
    assert answer.status_code == 200, answer.text
    return answer.json()["answers"][0]


def job(http: httpx.Client, response: httpx.Response, timeout: float = 5.0) -> dict:
    """Follow an Operation-Location (no api-version in it, as in the how-to) to the job's end."""
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + timeout
    while True:
        state = http.get(response.headers["Operation-Location"], params=V).json()
        if state["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def patch(http: httpx.Client, ops: list[dict]) -> httpx.Response:
    return http.patch(f"{BASE}/qnas", params=V, json=ops)


def deploy(http: httpx.Client, name: str = "production") -> dict:
    return job(http, http.put(f"{BASE}/deployments/{name}", params=V))


def test_it_starts_with_devstack_data_qna_json_deployed_so_the_bot_answers_before_any_publish():
    http = client()
    best = ask(http, "what are your opening hours")
    assert best["id"] == 1 and best["answer"] == SEED[0]["answer"] and best["confidenceScore"] > 0.3
    assert ask(http, "meaning of life")["id"] == -1  # the service's "No good match found in KB."
    listed = http.get(f"{BASE}/qnas", params=V).json()
    assert [q["id"] for q in listed["value"]] == [p["id"] for p in SEED]
    assert http.get(f"{BASE}/deployments", params=V).json()["value"][0]["deploymentName"] == "production"


def test_an_added_pair_is_answered_only_once_deployed():
    http = client()
    accepted = patch(http, [{"op": "add", "value": {"questions": ["Do you sell socks?"], "answer": "Yes, wool socks.",
                                                    "metadata": {"switchboard_pair": "QNA-Socks"}}}])
    location = accepted.headers["Operation-Location"]
    assert accepted.status_code == 202 and "/qnas/jobs/" in location and "api-version" not in location
    state = job(http, accepted)
    assert state["status"] == "succeeded" and state["errors"] == []
    assert {"jobId", "createdDateTime", "lastUpdatedDateTime", "expirationDateTime"} <= set(state)
    added = [q for q in http.get(f"{BASE}/qnas", params=V).json()["value"] if q["answer"] == "Yes, wool socks."]
    assert added[0]["id"] == 8  # the service numbers added QnAs
    assert added[0]["metadata"] == {"switchboard_pair": "qna-socks"}  # stored in lower case
    assert ask(http, "do you sell socks")["id"] == -1  # edited, not deployed: the bot does not see it

    deployed = http.put(f"{BASE}/deployments/production", params=V)
    assert f"{BASE}/deployments/production/jobs/" in deployed.headers["Operation-Location"]
    assert job(http, deployed)["status"] == "succeeded"
    assert ask(http, "do you sell socks")["answer"] == "Yes, wool socks."


def test_replace_and_delete_reach_the_bot_at_the_next_deployment():
    http = client()
    ops = [{"op": "replace",
            "value": {"id": 1, "answer": "Open 24 hours.", "questions": ["What are your opening hours?"]}},
           {"op": "delete", "value": {"id": 2}}]
    assert job(http, patch(http, ops))["status"] == "succeeded"
    assert ask(http, "what are your opening hours")["answer"] == SEED[0]["answer"]
    assert ask(http, "what is your return policy")["id"] == 2
    deploy(http)
    assert ask(http, "what are your opening hours")["answer"] == "Open 24 hours."
    assert ask(http, "what is your return policy")["id"] != 2


def test_a_job_is_polled_through_its_url_not_started_or_running_until_it_is_done():
    http = client(job_seconds=0.4)
    accepted = patch(http, [{"op": "delete", "value": {"id": 7}}])
    first = http.get(accepted.headers["Operation-Location"], params=V).json()
    assert first["status"] in ("notStarted", "running")
    assert job(http, accepted)["status"] == "succeeded"
    assert 7 not in [q["id"] for q in http.get(f"{BASE}/qnas", params=V).json()["value"]]


def test_an_update_naming_a_missing_qna_fails_its_job_and_changes_nothing():
    http = client()
    state = job(http, patch(http, [{"op": "delete", "value": {"id": 1}}, {"op": "replace", "value": {
        "id": 99, "answer": "x", "questions": ["y"]}}]))
    assert state["status"] == "failed" and "99" in state["errors"][0]["message"]
    assert 1 in [q["id"] for q in http.get(f"{BASE}/qnas", params=V).json()["value"]]


@pytest.mark.parametrize("body, reason", [
    ({"op": "add"}, "JSON array"),
    ([{"op": "upsert", "value": {}}], "add, replace or delete"),
    ([{"op": "add", "value": {"questions": ["q"], "answer": ""}}], "'answer'"),
    ([{"op": "add", "value": {"questions": [], "answer": "a"}}], "'questions'"),
    ([{"op": "add", "value": {"questions": ["q" * 1001], "answer": "a"}}], "questions[0]"),
    ([{"op": "add", "value": {"questions": ["q"], "answer": "a" * 25_001}}], "'answer'"),
    ([{"op": "add", "value": {"questions": ["q"], "answer": "a", "metadata": {"a-b": "v"}}}], "metadata name"),
    ([{"op": "add", "value": {"questions": ["q"], "answer": "a", "metadata": {"k": "x:y"}}}], "metadata value"),
    ([{"op": "replace", "value": {"questions": ["q"], "answer": "a"}}], "integer 'id'"),
    ([{"op": "delete", "value": {"id": i}} for i in range(1001)], "at most 1000"),
])
def test_a_malformed_update_is_refused_with_the_services_error_shape(body, reason):
    http = client()
    refused = patch(http, body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "InvalidRequest" and reason in error["message"]


def test_qnas_are_paged_with_next_link():
    http = client(page_size=3)
    url, params, seen = f"{BASE}/qnas", V, []
    while url:
        page = http.get(url, params=params).json()
        seen += [q["id"] for q in page["value"]]
        assert len(page["value"]) <= 3
        url, params = page.get("nextLink"), None
    assert seen == [p["id"] for p in SEED]


@pytest.mark.parametrize("change, status, code", [
    ({"headers": {"Ocp-Apim-Subscription-Key": "wrong"}}, 401, "401"),
    ({"params": {"api-version": "2019-01-01"}}, 400, "InvalidRequest"),
    ({"params": {}}, 400, "InvalidRequest"),
    ({"path": "/language/query-knowledgebases/projects/other/qnas"}, 404, "ProjectNotFound"),
])
def test_the_key_the_api_version_and_the_project_are_checked(change, status, code):
    http = client()
    answer = http.get(change.get("path", f"{BASE}/qnas"), params=change.get("params", V), headers=change.get("headers"))
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


def test_the_runtime_query_checks_the_project_and_the_deployment():
    http = client()
    other = http.post("/language/:query-knowledgebases", json={"question": "hours?"},
                      params={"projectName": "other", "deploymentName": "production", **V})
    assert other.status_code == 404 and other.json()["error"]["code"] == "ProjectNotFound"
    missing = http.post("/language/:query-knowledgebases", json={"question": "hours?"},
                        params={"projectName": PROJECT, "deploymentName": "staging", **V})
    assert missing.status_code == 404 and "staging" in missing.json()["error"]["message"]
    deploy(http, "staging")
    assert ask(http, "what are your opening hours", deployment="staging")["id"] == 1


def test_an_unknown_job_is_operation_not_found():
    http = client()
    answer = http.get(f"{BASE}/qnas/jobs/nope", params=V)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "OperationNotFound"
    deployed = http.put(f"{BASE}/deployments/production", params=V)
    job_id = deployed.headers["Operation-Location"].rsplit("/", 1)[-1]
    assert http.get(f"{BASE}/qnas/jobs/{job_id}", params=V).status_code == 404  # a deploy job is not a qnas job
