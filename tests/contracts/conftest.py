"""The services the contract fuzzing runs against, as real processes: one stack on free ports (the
same launcher as `make run`, without the training worker) serves the NLU service under gunicorn, the
function app under the local functions host, and the admin site under gunicorn."""
from __future__ import annotations

import re

import pytest
import requests

from adminclient import PASSWORD
from devstack.stack import Ports, Stack

SERVICES = ("azurite", "cosmos", "nlu", "standins", "functions", "admin")
# Limits far above what the fuzzing sends: the web chat's handlers get past the rate limits to the
# checks behind them (429s stay documented; tests/function_app/test_ratelimit.py tests the limits).
GENEROUS_LIMITS = {"WEBCHAT_MESSAGES_PER_CONVERSATION": "100000", "WEBCHAT_MESSAGES_PER_ADDRESS": "100000",
                   "WEBCHAT_CONVERSATIONS_PER_ADDRESS": "100000"}


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory, demo_model):
    stack = Stack(tmp_path_factory.mktemp("fuzz-stack"), Ports.free(), model=demo_model, functions_env=GENEROUS_LIMITS)
    try:
        for name in SERVICES:
            stack.start(name)
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def admin_session(fuzz_stack) -> requests.Session:
    """A session of the admin site logged in as a viewer (the role its JSON endpoints need)."""
    from admin_site.services import build
    from admin_site.settings import Settings

    build(Settings.from_env(fuzz_stack.admin_settings())).accounts.create("fuzz-viewer", "viewer", PASSWORD, by="fuzz")
    session = requests.Session()
    base = f"http://127.0.0.1:{fuzz_stack.ports.admin}"
    page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/login", data={"name": "fuzz-viewer", "password": PASSWORD, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and session.cookies.get("switchboard_admin"), answer.text[:500]
    return session
