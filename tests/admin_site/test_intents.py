"""The Intents pages: list and search, create, edit with the ETag, conflicts, rename, delete, route and
replies; roles on every POST; what customers and admins typed is shown as text; the live preview's
parser (static/js/intents.js, run by node) agrees with the server's."""
from __future__ import annotations

import html
import json
import re
import subprocess

import pytest

from admin_site import catalogue as cat
from helpers import ROOT


@pytest.fixture
def editor(client_as, services):
    services.catalogue.save_entity("order_id", {}, [], None, "seed")
    services.catalogue.save_entity("colour", {"blue": ["navy"]}, [], None, "seed")
    return client_as("editor")


def _etag(services, name: str) -> str:
    return services.catalogue.get(cat.INTENT, name)["_etag"]


def _text(answer, start: str = "", end: str = "") -> str:
    """The page's text as a reader sees it (between two markers of its HTML, if given)."""
    page = answer.get_data(as_text=True)
    if start:
        page = page[page.index(start):]
    if end:
        page = page[:page.index(end)]
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_an_editor_creates_an_intent_with_annotated_examples_and_sees_it_listed_with_its_count(editor, services):
    answer = editor.post("/intents/", {"name": "track_order", "route": "order_status",
                                       "examples": "where is [A-1234](order_id)\n\ntrack my parcel\n"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/intents/track_order"
    page = editor.get("/intents/track_order").get_data(as_text=True)
    assert '<mark class="entity">A-1234<small>order_id</small></mark>' in page
    assert "Created intent track_order with 2 examples" in page
    listing = editor.get("/intents/").get_data(as_text=True)
    row = re.search(r'<a href="/intents/track_order">track_order</a></td>'
                    r'\s*<td class="num">(\d+)</td>\s*<td>(.*?)</td>', listing)
    assert row.groups() == ("2", "order_status")
    audit = services.audit.recent()[0]
    assert (audit["actor"], audit["action"], audit["target"]) == ("editor", "intent.create", "track_order")


def test_the_default_route_of_a_new_intent_is_the_codes(editor, services):
    editor.post("/intents/", {"name": "order_status", "route": "__default__", "examples": "where is my order"})
    editor.post("/intents/", {"name": "brand_new", "route": "__default__", "examples": "something new"})
    assert services.catalogue.get(cat.INTENT, "order_status")["route"] == "order_status"
    assert services.catalogue.get(cat.INTENT, "brand_new")["route"] is None


@pytest.mark.parametrize("name, problem", [("", "got ''"), ("Order Status", "got 'Order Status'"),
                                           ("9lives", "lower-case letter")])
def test_a_bad_name_comes_back_with_the_form_filled(editor, name, problem):
    answer = editor.post("/intents/", {"name": name, "route": "", "examples": "hello [A-1](order_id)"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and problem in html.unescape(page)
    assert "hello [A-1](order_id)</textarea>" in page and f'value="{html.escape(name)}"' in page


def test_annotation_errors_are_refused_with_their_line_and_the_form_filled(editor, services):
    services.catalogue.save_intent("track_order", ["where is my order"], None, None, "seed")
    typed = "where is [A-1](order_id)\nfind [red](color) shoes\ntrack [it(order_id)"
    answer = editor.post("/intents/track_order", {"examples": typed, "route": "order_status",
                                                  "etag": _etag(services, "track_order")})
    page = _text(answer)
    assert answer.status_code == 400
    assert "line 2 ('find [red](color) shoes'): unknown entity 'color'" in page
    assert "line 3 ('track [it(order_id)'): unbalanced annotation bracket '['" in page
    assert html.escape(typed, quote=False) in answer.get_data(as_text=True)  # the textarea keeps what was typed
    assert services.catalogue.get(cat.INTENT, "track_order")["examples"] == ["where is my order"]


def test_a_save_refused_for_an_unknown_branch_says_so(editor, services):
    services.catalogue.save_intent("track_order", ["where is my order"], None, None, "seed")
    answer = editor.post("/intents/track_order", {"examples": "where is my order", "route": "teleport",
                                                  "etag": _etag(services, "track_order")})
    assert answer.status_code == 400 and "there is no branch 'teleport'" in _text(answer)


def test_two_editors_saving_one_intent_the_second_sees_who_changed_it_and_both_versions(client_as, services):
    services.catalogue.save_intent("greeting", ["hi", "hello"], "greeting", None, "seed")
    services.accounts.create("ann", "editor", "correct horse battery", by="test")
    ann, bob = client_as("ann"), client_as("editor")
    opened = _etag(services, "greeting")
    assert ann.post("/intents/greeting", {"examples": "hi\nhello\ngood morning", "route": "greeting",
                                          "etag": opened}).status_code == 302
    answer = bob.post("/intents/greeting", {"examples": "hi\nhowdy", "route": "goodbye", "etag": opened})
    page, text = answer.get_data(as_text=True), _text(answer)
    assert answer.status_code == 409
    assert "Changed by ann since you opened it" in text
    assert "hi\nhowdy</textarea>" in page  # bob's version still in the form
    mine = text[text.index("Your version"):text.index("Stored version")]
    theirs = text[text.index("Stored version"):]
    assert "howdy" in mine and "Route: goodbye" in mine
    assert "good morning" in theirs and "hi\nhello\ngood morning" in theirs and "Route: greeting" in theirs
    assert services.catalogue.get(cat.INTENT, "greeting")["examples"] == ["hi", "hello", "good morning"]
    # saving again is a choice made knowing: the form now carries the stored version's ETag
    etag = re.search(r'name="etag" value="([^"]+)"', page).group(1)
    assert etag == _etag(services, "greeting")
    assert bob.post("/intents/greeting", {"examples": "hi\nhowdy", "route": "goodbye", "etag": etag}).status_code == 302
    assert services.catalogue.get(cat.INTENT, "greeting")["examples"] == ["hi", "howdy"]


def test_an_example_with_markup_is_shown_as_text(editor, services):
    services.catalogue.save_intent("greeting", ["<script>alert(1)</script> [<b>x</b>](colour)"], None, None, "x")
    for url in ("/intents/greeting", "/intents/?q=alert"):
        page = editor.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_search_finds_intents_by_name_or_example_text(editor, services):
    services.catalogue.save_intent("track_order", ["where is my parcel", "track [A-1](order_id)"], None, None, "x")
    services.catalogue.save_intent("greeting", ["hi", "hello"], None, None, "x")
    by_text = _text(editor.get("/intents/?q=PARCEL"), "<h1>", 'id="new"')
    assert "1 intent match" in by_text and "track_order" in by_text and "greeting" not in by_text
    assert "1 matching example" in by_text and "where is my parcel" in by_text
    assert "greeting" in _text(editor.get("/intents/?q=greet"))
    assert "track_order" in _text(editor.get("/intents/?q=track a-1"))  # annotations do not get in the way
    assert "No intent name or example contains" in _text(editor.get("/intents/?q=zebra"))


def test_utterances_also_in_another_intent_are_flagged(editor, services):
    services.catalogue.save_intent("greeting", ["hi", "Hello there"], None, None, "x")
    services.catalogue.save_intent("small_talk", ["hello  there", "how are you"], None, None, "x")
    listing = _text(editor.get("/intents/"))
    assert "1 utterance is in more than one intent" in listing and "1 also in another intent" in listing
    page = editor.get("/intents/greeting").get_data(as_text=True)
    flagged = page[page.index('id="duplicates"'):page.index('id="replies"')]
    assert "Hello there" in flagged and 'href="/intents/small_talk"' in flagged and "hi<" not in flagged


def test_a_long_intent_lists_its_examples_a_page_at_a_time_with_a_filter(editor, services):
    services.catalogue.save_intent("big", [f"example number {i}" for i in range(1, 251)], None, None, "x")
    first = _text(editor.get("/intents/big"), '<section class="card" id="examples">')
    assert "page 1 of 3" in first and "example number 100" in first
    third = _text(editor.get("/intents/big?page=3"), '<section class="card" id="examples">')
    assert "example number 250" in third and "example number 199\n" not in third
    filtered = _text(editor.get("/intents/big?filter=number 12"), '<section class="card" id="examples">')
    assert "11 of 250" in filtered  # 12, 120..129
    assert editor.get("/intents/big?page=zebra").status_code == 200


def test_delete_is_refused_while_examples_or_a_route_use_it_unless_confirmed(editor, services):
    services.catalogue.save_intent("greeting", ["hi"], "greeting", None, "x")
    refused = editor.post("/intents/greeting/delete", {"etag": _etag(services, "greeting")})
    assert refused.status_code == 400
    assert "greeting is still in use: it has 1 example that train the model; it routes turns to the greeting " \
           "branch" in _text(refused)
    assert services.catalogue.get(cat.INTENT, "greeting") is not None
    done = editor.post("/intents/greeting/delete", {"etag": _etag(services, "greeting"), "confirm": "yes"})
    assert done.status_code == 302 and services.catalogue.get(cat.INTENT, "greeting") is None
    assert services.audit.recent()[0]["action"] == "intent.delete"
    services.catalogue.save_intent("unused", [], None, None, "x")
    assert editor.post("/intents/unused/delete", {"etag": _etag(services, "unused")}).status_code == 302


def test_rename_moves_examples_and_route_and_refuses_a_taken_or_bad_name(editor, services):
    services.catalogue.save_intent("greeting", ["hi"], "greeting", None, "x")
    services.catalogue.save_intent("goodbye", ["bye"], "goodbye", None, "x")
    taken = editor.post("/intents/greeting/rename", {"new_name": "goodbye", "etag": _etag(services, "greeting")})
    assert taken.status_code == 400 and "there is already an intent 'goodbye'" in _text(taken)
    bad = editor.post("/intents/greeting/rename", {"new_name": "Hello!", "etag": _etag(services, "greeting")})
    assert bad.status_code == 400 and 'value="Hello!"' in bad.get_data(as_text=True)
    done = editor.post("/intents/greeting/rename", {"new_name": "hello", "etag": _etag(services, "greeting")})
    assert done.status_code == 302 and done.headers["Location"] == "/intents/hello"
    assert services.catalogue.get(cat.INTENT, "hello")["route"] == "greeting"
    assert services.catalogue.get(cat.INTENT, "greeting") is None


def test_a_rename_or_delete_of_an_intent_changed_since_it_was_opened_says_who_changed_it(editor, services):
    services.catalogue.save_intent("greeting", ["hi"], None, None, "x")
    opened = _etag(services, "greeting")
    services.catalogue.save_intent("greeting", ["hi", "hello"], None, opened, "ann")
    renamed = editor.post("/intents/greeting/rename", {"new_name": "hello", "etag": opened})
    assert renamed.status_code == 409 and "greeting was changed by ann since you opened it" in _text(renamed)
    deleted = editor.post("/intents/greeting/delete", {"etag": opened, "confirm": "yes"})
    assert deleted.status_code == 409 and "greeting was changed by ann since you opened it" in _text(deleted)
    assert services.catalogue.get(cat.INTENT, "greeting")["examples"] == ["hi", "hello"]
    assert services.catalogue.get(cat.INTENT, "hello") is None


def test_the_route_and_the_reply_templates_of_the_routed_branch(editor, services):
    services.catalogue.save_intent("track_order", ["where is my order"], "order_status", None, "x")
    page = editor.get("/intents/track_order").get_data(as_text=True)
    assert '<option value="order_status" selected>' in page and "no route (faq answers)" in page
    assert 'name="reply.found"' in page and "<code>{order_id}</code> <code>{status}</code>" in page
    refused = editor.post("/intents/track_order/replies", {"branch": "order_status", "etag": "",
                                                           "reply.found": "Order {order_id} is in {city}."})
    assert refused.status_code == 400 and "found: unknown slot {city}" in _text(refused)
    assert "Order {order_id} is in {city}.</textarea>" in refused.get_data(as_text=True)
    saved = editor.post("/intents/track_order/replies", {"branch": "order_status", "etag": "",
                                                         "reply.found": "Your order {order_id}: {status}."})
    assert saved.status_code == 302
    saved_templates = services.catalogue.get(cat.REPLIES, "order_status")["templates"]
    assert saved_templates == {"found": "Your order {order_id}: {status}."}
    stale = editor.post("/intents/track_order/replies", {"branch": "order_status", "etag": "",
                                                         "reply.found": "{order_id} is {status}"})
    assert stale.status_code == 409 and "Changed by editor since you opened them" in _text(stale)
    assert services.audit.recent()[0]["action"] == "replies.update"


def test_a_viewer_reads_every_page_and_gets_403_on_every_post(app, client_as, services):
    services.catalogue.save_intent("greeting", ["hi"], "greeting", None, "x")
    services.catalogue.save_entity("colour", {}, [], None, "x")
    viewer = client_as("viewer")
    for url in ("/intents/", "/intents/greeting", "/entities/", "/entities/colour", "/data/", "/data/export"):
        assert viewer.get(url).status_code == 200, url
    posts = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods
             and rule.endpoint.split(".")[0] in ("intents", "entities", "data")]
    assert len(posts) >= 9
    for role in ("viewer", "agent"):
        client = client_as(role)
        for rule in posts:
            url = rule.build({"name": "greeting" if rule.endpoint.startswith("intents") else "colour"})[1]
            answer = client.post(url, {"examples": "x", "name": "x", "confirm": "yes", "new_name": "y"})
            assert answer.status_code == 403, (role, url)
    assert services.catalogue.get(cat.INTENT, "greeting")["examples"] == ["hi"]
    assert "New intent" not in viewer.get("/intents/").get_data(as_text=True)


def test_the_page_passes_the_known_entities_to_its_script_and_has_no_inline_script(editor):
    page = editor.get("/intents/").get_data(as_text=True)
    assert re.search(r"data-entities='\[\"colour\", \"order_id\"\]'", page)
    assert '<script src="/static/js/intents.js">' in page
    assert not re.search(r"<script>(?!</script>)", page) and " style=" not in page


LINES = ["where is [A-1234](order_id)", "[blue](colour) [shoes](product) please", "track [it(order_id)",
         "find [red](color)", "] oops", "[x](order_id) and [y](nope)", "[A-1](order_id)", "plain text",
         "[](order_id) ]", "tea (hot) [cup](order_id)"]


def test_the_live_preview_parses_lines_as_the_server_does():
    script = (f"const {{ parseLine }} = require({json.dumps(str(ROOT / 'admin_site/static/js/intents.js'))});"
              f"const lines = {json.dumps(LINES)};"
              "const slots = new Set(['order_id', 'colour', 'product']);"
              "console.log(JSON.stringify(lines.map((l) => parseLine(l, slots))));")
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for raw, js in zip(LINES, json.loads(done.stdout)):
        assert js["problems"] == cat.example_problems(raw, ["order_id", "colour", "product"]), raw
        if not js["problems"]:
            assert [(p["text"], p["entity"]) for p in js["parts"]] == cat.split_annotated(raw), raw
