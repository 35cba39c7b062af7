"""Browser tests of the admin site: Playwright driving Debian's Chromium (headless) against a whole
stack of its own (Azurite, the Cosmos DB stand-in, the NLU service, the stand-ins, the functions host,
the admin site) on free ports. Screenshots of each page go to var/screenshots/ as test artifacts."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from admin_site.services import build
from admin_site.settings import Settings
from browsing import PASSWORD, Site
from devstack.stack import Ports, Stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As the machine's probe runs it: no sandbox (root), and nothing that calls out of this closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def admin_stack(tmp_path_factory, demo_model):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    stack = Stack(tmp_path_factory.mktemp("browser-stack"), Ports.free(), model=demo_model)
    with pytest.MonkeyPatch.context() as env:  # the worker's transformer, kept small (test_retrain.py)
        env.setenv("SWITCHBOARD_TRANSFORMER_LAYERS", "2")
        stack.start_all()
    admin = build(Settings.from_env(stack.admin_settings()))
    for role in ("viewer", "agent", "editor", "admin"):
        admin.accounts.create(f"{role}-1", role, PASSWORD, by="browser tests")
    yield stack, admin
    stack.stop_all()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(admin_stack, browser):
    """A fresh browser context and the URLs of the stack: `site.admin`, `site.webchat`, `site.live`."""
    stack, services = admin_stack
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield Site(stack, services, context)
    context.close()
