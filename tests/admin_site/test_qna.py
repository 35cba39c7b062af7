"""The QnA page: pairs with alternative questions, edited by editors with ETag conflicts shown, and
published to question answering (the in-memory twin, and the QnA stand-in through the authoring API)."""
from __future__ import annotations

import html
import re

import httpx
import pytest

from admin_site.qna_publish import AzurePublisher, MemoryPublisher
from admin_site.views.qna import matching, parse_questions
from core.clients import QnaClient
from devstack.standins.qna import qna_app
from switchboard.retry import RetryPolicy


@pytest.fixture
def pairs(services):
    """Two pairs in the catalogue, saved by the seed."""
    hours = services.catalogue.save_qna("qna-1", ["What are your opening hours?", "When do you open?"],
                                        "9 to 5, Monday to Saturday.", None, "seed")
    returns = services.catalogue.save_qna("qna-2", ["Can I return an item?"], "Within 30 days.", None, "seed")
    return hours, returns


def audit(services, action: str) -> list[dict]:
    return services.audit.recent(action=action)


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def test_parse_questions_takes_one_a_line_without_blanks_or_repeats():
    assert parse_questions(" Hours?\n\nWhen open?\r\nHours?\n  ") == ["Hours?", "When open?"]


def test_matching_finds_words_in_any_question_or_the_answer_in_any_case():
    docs = [{"id": "b", "questions": ["Returns?"], "answer": "30 days"},
            {"id": "a", "questions": ["Hours?", "When OPEN?"], "answer": "9 to 5"}]
    assert [d["id"] for d in matching(docs, "open")] == ["a"]
    assert [d["id"] for d in matching(docs, "DAYS")] == ["b"]
    assert [d["id"] for d in matching(docs, "")] == ["a", "b"]  # by first question


def test_everyone_sees_the_pairs_with_their_alternative_questions(client_as, pairs):
    page = client_as("viewer").get("/qna/")
    body = text(page)
    assert page.status_code == 200
    assert "When do you open?" in body and "9 to 5, Monday to Saturday." in body and "Can I return an item?" in body
    assert "Publish</button>" not in body and "Add pair" not in body  # a viewer gets no editing controls
    assert "Find a pair" in body and "Within 30 days" not in text(client_as("viewer").get("/qna/?q=hours"))


def test_an_editor_adds_a_pair_with_alternative_questions(client_as, services):
    editor = client_as("editor")
    answer = editor.post("/qna/", {"questions": "Do you sell socks?\nHave you got socks?\n", "answer": "Yes, wool."})
    assert answer.status_code == 302
    (pair,) = services.catalogue.all("qna")
    assert pair["questions"] == ["Do you sell socks?", "Have you got socks?"] and pair["updated_by"] == "editor"
    (entry,) = audit(services, "qna.create")
    assert entry["actor"] == "editor" and entry["target"] == pair["id"]
    assert "Added the pair" in text(editor.get("/qna/"))


@pytest.mark.parametrize("form, problem", [
    ({"questions": "Do you sell socks?", "answer": "   "}, "the answer is empty"),
    ({"questions": "\n \n", "answer": "Yes, wool."}, "a pair needs at least one question"),
    ({"questions": "q" * 1001, "answer": "Yes, wool."}, "question 1 has 1,001 characters"),
])
def test_bad_input_comes_back_with_the_form_filled_and_the_problem_named(client_as, services, form, problem):
    answer = client_as("editor").post("/qna/", form)
    body = text(answer)
    assert answer.status_code == 400 and problem in body
    assert form["answer"].strip() in body and form["questions"].strip()[:50] in body
    assert services.catalogue.all("qna") == []


def test_an_editor_edits_a_pair_and_it_is_audited(client_as, services, pairs):
    editor = client_as("editor")
    page = text(editor.get("/qna/pairs/qna-1"))
    etag = re.search(r'name="etag" value="([^"]+)"', page).group(1)
    answer = editor.post("/qna/pairs/qna-1", {"questions": "What are your opening hours?\nAre you open Sunday?",
                                              "answer": "9 to 8 every day.", "etag": etag})
    assert answer.status_code == 302
    saved = services.catalogue.get("qna", "qna-1")
    assert saved["answer"] == "9 to 8 every day." and saved["questions"][1] == "Are you open Sunday?"
    assert audit(services, "qna.update")[0]["target"] == "qna-1"
    refused = editor.post("/qna/pairs/qna-1", {"questions": "Hours?", "answer": "", "etag": saved["_etag"]})
    assert refused.status_code == 400 and "the answer is empty" in text(refused) and "Hours?" in text(refused)


def test_a_pair_changed_meanwhile_shows_who_changed_it_and_both_versions(client_as, services, pairs):
    hours, _ = pairs
    services.catalogue.save_qna("qna-1", ["What are your opening hours?"], "Closed for renovation.",
                                hours["_etag"], "ann")
    editor = client_as("editor")
    mine = {"questions": "What are your opening hours?", "answer": "9 to 8 every day.", "etag": hours["_etag"]}
    answer = editor.post("/qna/pairs/qna-1", mine)
    body = text(answer)
    assert answer.status_code == 409
    assert "Changed by ann since you opened it" in body
    assert "Closed for renovation." in body and "9 to 8 every day." in body
    assert services.catalogue.get("qna", "qna-1")["answer"] == "Closed for renovation."  # not overwritten
    current = re.search(r'name="etag" value="([^"]+)"', body).group(1)
    assert editor.post("/qna/pairs/qna-1", {**mine, "etag": current}).status_code == 302  # keep mine after all
    assert services.catalogue.get("qna", "qna-1")["answer"] == "9 to 8 every day."


def test_a_pair_deleted_meanwhile_says_who_deleted_it_and_saving_adds_it_again(client_as, services, pairs):
    hours, _ = pairs
    other = client_as("admin")
    assert other.post("/qna/pairs/qna-1/delete", {"etag": hours["_etag"]}).status_code == 302
    editor = client_as("editor")
    mine = {"questions": "Hours?", "answer": "9 to 8.", "etag": hours["_etag"]}
    answer = editor.post("/qna/pairs/qna-1", mine)
    assert answer.status_code == 409 and "admin deleted this pair" in text(answer)
    assert "Deleted since you opened it" in text(answer)
    assert editor.post("/qna/pairs/qna-1", {**mine, "etag": ""}).status_code == 302
    assert services.catalogue.get("qna", "qna-1")["answer"] == "9 to 8."


def test_deleting_a_pair_changed_meanwhile_is_refused_with_both_shown(client_as, services, pairs):
    hours, _ = pairs
    services.catalogue.save_qna("qna-1", ["Hours?"], "Closed.", hours["_etag"], "ann")
    editor = client_as("editor")
    answer = editor.post("/qna/pairs/qna-1/delete", {"etag": hours["_etag"]})
    body = text(answer)
    assert answer.status_code == 409 and "not deleted" in body and "Changed by ann" in body and "Closed." in body
    assert "Your version" not in body
    assert services.catalogue.get("qna", "qna-1") is not None
    assert audit(services, "qna.delete") == []


def test_an_answer_with_a_script_is_shown_escaped(client_as, services):
    services.catalogue.save_qna(None, ["<b>Hi</b>?"], "<script>alert('x')</script>", None, "seed")
    for url in ("/qna/", f"/qna/pairs/{services.catalogue.all('qna')[0]['id']}"):
        body = client_as("editor").get(url).get_data(as_text=True)
        assert "<script>alert" not in body and "&lt;script&gt;alert(" in body and "<b>Hi</b>" not in body


def test_a_viewer_gets_403_on_publish_and_on_edits(client_as, services, pairs):
    hours, _ = pairs
    viewer = client_as("viewer")
    assert viewer.post("/qna/publish").status_code == 403
    assert viewer.post("/qna/", {"questions": "q", "answer": "a"}).status_code == 403
    assert viewer.get("/qna/pairs/qna-1").status_code == 403
    assert viewer.post("/qna/pairs/qna-1", {"questions": "q", "answer": "a", "etag": hours["_etag"]}).status_code == 403
    assert viewer.post("/qna/pairs/qna-1/delete", {"etag": hours["_etag"]}).status_code == 403
    assert client_as("agent").post("/qna/publish").status_code == 403
    assert services.catalogue.get("qna", "qna-1")["answer"] == hours["answer"] and services.qna.deployed == []
    assert audit(services, "qna.publish") == []


def test_an_editor_publishes_and_sees_the_outcome(client_as, services, pairs):
    editor = client_as("editor")
    answer = editor.post("/qna/publish")
    assert answer.status_code == 302
    body = text(editor.get("/qna/"))
    assert "Published 2 pairs: 2 added, 0 replaced, 0 deleted, 0 unchanged; deployed to production." in body
    assert isinstance(services.qna, MemoryPublisher) and len(services.qna.deployed) == 2
    (entry,) = audit(services, "qna.publish")
    assert entry["actor"] == "editor" and entry["detail"]["added"] == 2 and "error" not in entry["detail"]
    assert "changed since the last publish" not in body  # both are in the deployment now
    services.catalogue.save_qna("qna-2", ["Can I return an item?"], "Within 60 days.",
                                services.catalogue.get("qna", "qna-2")["_etag"], "ann")
    assert text(editor.get("/qna/")).count("changed since the last publish") == 1


def test_a_failed_publish_shows_the_error_and_is_audited(client_as, services, pairs):
    services.qna.fail_with = "deploying to production: question answering answered 403: Forbidden"
    editor = client_as("editor")
    assert editor.post("/qna/publish").status_code == 302
    body = text(editor.get("/qna/"))
    assert "Publishing failed: deploying to production: question answering answered 403: Forbidden" in body
    assert audit(services, "qna.publish")[0]["detail"]["error"].startswith("deploying to production")


def test_the_page_publishes_to_the_qna_stand_in_and_the_bot_answers_the_new_pair(client_as, services):
    transport = httpx.WSGITransport(app=qna_app("k", project="retail-faq"))
    services.qna = AzurePublisher("http://qna.test", "k", "retail-faq", "production", transport=transport,
                                  poll_interval=0.01, policy=RetryPolicy(attempts=2, backoff=0.0))
    bot = QnaClient("http://qna.test", "k", "retail-faq", "production", transport=transport)
    editor = client_as("editor")
    editor.post("/qna/", {"questions": "Do you sell socks?\nHave you got socks?", "answer": "Yes, wool socks."})
    assert bot.ask("have you got socks") is None  # saved in the catalogue, not yet published
    editor.post("/qna/publish")
    assert bot.ask("have you got socks").text == "Yes, wool socks."
    body = text(editor.get("/qna/"))
    assert "1 added, 0 replaced, 7 deleted" in body  # the stand-in's seed is not in this catalogue
