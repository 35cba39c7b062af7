"""The Entities pages: create and edit synonyms and lookup values, conflicts, bad input, deleting an
entity that examples still annotate; the script's synonym check agrees with the server's."""
from __future__ import annotations

import html
import json
import re
import subprocess

from admin_site import catalogue as cat
from helpers import ROOT


def _text(answer) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", answer.get_data(as_text=True)))


def test_an_editor_creates_an_entity_with_synonyms_and_lookup_values_and_edits_it(client_as, services):
    editor = client_as("editor")
    answer = editor.post("/entities/", {"name": "colour", "synonyms": "blue: navy, cobalt\nred: crimson",
                                        "lookups": "green\nyellow\n\ngreen"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/entities/colour"
    stored = services.catalogue.get(cat.ENTITY, "colour")
    assert stored["synonyms"] == {"blue": ["navy", "cobalt"], "red": ["crimson"]}
    assert stored["lookups"] == ["green", "yellow"]
    listing = _text(editor.get("/entities/"))
    assert "colour" in listing and "3 for 2 values" in listing
    page = editor.get("/entities/colour").get_data(as_text=True)
    assert "blue: navy, cobalt\nred: crimson</textarea>" in page and "green\nyellow</textarea>" in page
    edited = editor.post("/entities/colour", {"synonyms": "blue: navy", "lookups": "green",
                                              "etag": stored["_etag"]})
    assert edited.status_code == 302
    assert services.catalogue.get(cat.ENTITY, "colour")["synonyms"] == {"blue": ["navy"]}
    assert [r["action"] for r in services.audit.recent()[:2]] == ["entity.update", "entity.create"]


def test_bad_input_comes_back_with_the_form_filled_and_the_problem_named(client_as, services):
    editor = client_as("editor")
    bad_name = editor.post("/entities/", {"name": "Colour!", "synonyms": "blue: navy", "lookups": ""})
    assert bad_name.status_code == 400 and "got 'Colour!'" in _text(bad_name)
    assert "blue: navy</textarea>" in bad_name.get_data(as_text=True)
    bad_line = editor.post("/entities/", {"name": "colour", "synonyms": "blue: navy\njust words", "lookups": "x"})
    assert bad_line.status_code == 400
    assert "line 2 ('just words'): write the value, a colon and its alternatives" in _text(bad_line)
    twice = editor.post("/entities/", {"name": "colour", "synonyms": "blue: navy\nblack: navy", "lookups": ""})
    assert twice.status_code == 400 and "line 2: 'navy' is already a synonym of 'blue'" in _text(twice)
    assert services.catalogue.get(cat.ENTITY, "colour") is None
    editor.post("/entities/", {"name": "colour", "synonyms": "", "lookups": ""})
    again = editor.post("/entities/", {"name": "colour", "synonyms": "", "lookups": ""})
    assert again.status_code == 409 and "there is already an entity 'colour'" in _text(again)


def test_the_second_editor_sees_who_changed_the_entity_and_both_versions(client_as, services):
    opened = services.catalogue.save_entity("colour", {"blue": ["navy"]}, [], None, "seed")["_etag"]
    services.catalogue.save_entity("colour", {"blue": ["navy", "cobalt"]}, [], opened, "ann")
    editor = client_as("editor")
    answer = editor.post("/entities/colour", {"synonyms": "blue: navy\nred: crimson", "lookups": "", "etag": opened})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "Changed by ann since you opened it" in _text(answer)
    assert "blue: navy, cobalt</textarea>" in page  # the stored version
    assert page.count("blue: navy\nred: crimson</textarea>") == 2  # yours, beside it and in the form
    assert services.catalogue.get(cat.ENTITY, "colour")["synonyms"] == {"blue": ["navy", "cobalt"]}


def test_deleting_an_annotated_entity_is_refused_with_where_unless_confirmed(client_as, services):
    services.catalogue.save_entity("colour", {}, [], None, "seed")
    services.catalogue.save_intent("product_search", ["[blue](colour) shoes", "shoes"], None, None, "seed")
    editor = client_as("editor")
    etag = services.catalogue.get(cat.ENTITY, "colour")["_etag"]
    refused = editor.post("/entities/colour/delete", {"etag": etag})
    assert refused.status_code == 400 and "1 example annotates colour, in product_search (1)" in _text(refused)
    assert services.catalogue.get(cat.ENTITY, "colour") is not None
    done = editor.post("/entities/colour/delete", {"etag": etag, "confirm": "yes"})
    assert done.status_code == 302 and services.catalogue.get(cat.ENTITY, "colour") is None
    assert services.catalogue.get(cat.INTENT, "product_search")["examples"] == ["blue shoes", "shoes"]
    assert services.audit.recent()[0]["detail"] == {"annotations_removed": 1}


def test_deleting_an_entity_changed_since_it_was_opened_says_who_changed_it(client_as, services):
    services.catalogue.save_entity("colour", {}, [], None, "seed")
    opened = services.catalogue.get(cat.ENTITY, "colour")["_etag"]
    services.catalogue.save_entity("colour", {"blue": ["navy"]}, [], opened, "ann")
    answer = client_as("editor").post("/entities/colour/delete", {"etag": opened, "confirm": "yes"})
    assert answer.status_code == 409 and "colour was changed by ann since you opened it" in _text(answer)
    assert services.catalogue.get(cat.ENTITY, "colour")["synonyms"] == {"blue": ["navy"]}


def test_a_viewer_reads_an_entity_without_forms_and_markup_is_shown_as_text(client_as, services):
    services.catalogue.save_entity("colour", {"<b>blue</b>": ["<script>x()</script>"]}, [], None, "seed")
    page = client_as("viewer").get("/entities/colour").get_data(as_text=True)
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page
    assert "<form method=\"post\" action=\"/entities/colour\"" not in page
    assert client_as("viewer").post("/entities/colour/delete", {"confirm": "yes"}).status_code == 403


def test_the_scripts_synonym_check_agrees_with_the_server():
    text = "blue: navy, cobalt\n\nred: crimson\nno colon here\nblack: Navy\n: nothing"
    script = (f"const {{ synonymProblems }} = require({json.dumps(str(ROOT / 'admin_site/static/js/entities.js'))});"
              f"console.log(JSON.stringify(synonymProblems({json.dumps(text)})));")
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    server = [re.sub(r" \('.*?'\)", "", p) for p in cat.parse_synonyms(text)[1]]
    assert json.loads(done.stdout) == server and len(server) == 3
