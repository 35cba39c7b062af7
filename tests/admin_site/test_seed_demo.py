"""`python -m admin_site seed-demo`: an empty catalogue (in the Cosmos DB stand-in) gets the demo bot
once; a second run finds it and changes nothing; wrong settings are an error that says which, not a
stack trace."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from admin_site import DEMO_DATA, DEMO_QNA
from admin_site.catalogue import INTENT, QNA, REPLIES
from admin_site.services import build
from admin_site.settings import Settings
from devstack.stack import COSMOS_KEY
from helpers import ROOT
from nlu import dataset

pytestmark = pytest.mark.stack  # a process of its own, against the stand-in


@pytest.fixture
def settings(cosmos) -> dict[str, str]:
    return {"ADMIN_SECRET_KEY": "s" * 40, "COSMOS_ENDPOINT": cosmos, "COSMOS_KEY": COSMOS_KEY,
            "COSMOS_DATABASE": f"seed-{uuid.uuid4().hex[:8]}"}


def seed_demo(settings: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COSMOS_ENDPOINT", "AzureWebJobsStorage")}
    return subprocess.run([sys.executable, "-m", "admin_site", "seed-demo"], capture_output=True, text=True,
                          env={**env, **settings, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)


def test_an_empty_catalogue_gets_the_demo_bot_once(settings):
    demo, pairs = dataset.read_project(DEMO_DATA), json.loads(DEMO_QNA.read_text())
    first = seed_demo(settings)
    assert first.returncode == 0, first.stderr
    assert f"{len(demo.intents)} intents ({len(demo.splits['train'])} examples)" in first.stdout
    store = build(Settings.from_env(settings)).catalogue
    assert {d["name"] for d in store.all(INTENT)} == set(demo.intents)
    assert store.all(REPLIES) and len(store.all(QNA)) == len(pairs)
    stamp = store.stamp()

    second = seed_demo(settings)
    assert second.returncode == 0, second.stderr
    assert f"found a catalogue ({len(demo.intents)} intents" in second.stdout and "changed nothing" in second.stdout
    assert store.stamp() == stamp  # not one write


def test_wrong_settings_are_an_error_naming_them_not_a_stack_trace(settings):
    wrong = seed_demo({**settings, "ADMIN_SECRET_KEY": "short", "COSMOS_ENDPOINT": "cosmos.example"})
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.startswith("error: invalid settings: ") and "Traceback" not in wrong.stderr
    assert "ADMIN_SECRET_KEY must be at least 32 characters" in wrong.stderr
    assert "COSMOS_ENDPOINT: not an http(s) URL" in wrong.stderr
