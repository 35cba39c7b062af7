"""The running stack's NLU service takes no anonymous call, and the function app gets through with the
key the stack made for this start: given through the environment, never on a command line, kept in the
var folder for this user only, and in no log."""
from __future__ import annotations

import os
import stat

import httpx
import psutil

from branches import greeting
from devstack.stack import LOCAL_NLU_API_KEY
from livestack import Live


def test_a_parse_without_the_key_is_refused_and_the_probes_answer(stack):
    base = f"http://127.0.0.1:{stack.ports.nlu}"
    anonymous = httpx.post(f"{base}/v1/models/nlu:parse", json={"text": "hi there"}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous.json() == {"error": "no credential: send the header 'Authorization: Bearer <key>'",
                                "status": 401}
    wrong = httpx.get(f"{base}/v1/models/nlu", headers={"Authorization": f"Bearer {LOCAL_NLU_API_KEY}"}, timeout=10)
    assert wrong.status_code == 401, "the sample's public key opens nothing in a stack"
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/openapi.json", timeout=10).status_code == 200
    keyed = httpx.post(f"{base}/v1/models/nlu:parse", json={"text": "hi there"}, headers=stack.nlu_headers(),
                       timeout=10)
    assert keyed.status_code == 200 and keyed.json()["intent"]["name"] == "greeting"


def test_the_function_app_sends_the_stacks_key_and_a_turn_is_answered(stack, live: Live):
    assert stack.settings["NLU_API_KEY"] == stack.nlu_api_key != LOCAL_NLU_API_KEY
    channel = live.new_channel()
    live.say("hi", channel)
    assert live.replies(channel, 1) == [greeting.REPLIES["hello"].text]  # not the apology of a refused parse


def test_the_key_is_in_a_private_file_and_on_no_command_line_and_in_no_log(stack):
    path = stack.nlu_key_file
    assert path.read_text().strip() == stack.nlu_api_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for name, proc in stack.procs.items():
        for process in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
            assert stack.nlu_api_key not in " ".join(process.cmdline()), name
    for log in (stack.var / "logs").glob("*.log"):
        assert stack.nlu_api_key not in log.read_text(errors="replace"), log.name
