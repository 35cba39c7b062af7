"""A promotion while customers chat: the NLU service switches versions between two turns; no parse
request fails, and every turn is answered exactly once."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from branches import greeting
from devstack.stack import REGISTRY, storage_connection
from livestack import Live
from nlu.registry import open_registry

TURNS, RATE = 80, 10.0  # turns/s, for 8 s; the promotion lands after 3 s


def test_a_promotion_under_chat_load_fails_no_parse_and_answers_every_turn_once(live: Live, stack, demo_model):
    registry = open_registry(REGISTRY, storage_connection(stack.ports))
    before = registry.production()[0]["version"]
    after = registry.register(demo_model)  # a retrain of the same data: the next patch
    nlu = httpx.Client(base_url=f"http://127.0.0.1:{stack.ports.nlu}", timeout=10, headers=stack.nlu_headers())
    stop, failures, seen = threading.Event(), [], set()

    def parse_all_along() -> None:  # a second client of the NLU service, straight to it
        while not stop.is_set():
            r = nlu.post("/v1/models/nlu:parse", json={"text": "hi there"})
            if r.status_code != 200:
                failures.append((r.status_code, r.text[:200]))
            else:
                seen.add(r.json()["model_version"])

    prober = threading.Thread(target=parse_all_along)
    prober.start()
    channels = [live.new_channel() for _ in range(TURNS)]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        sends = []
        for i, channel in enumerate(channels):
            time.sleep(max(0.0, started + i / RATE - time.monotonic()))
            if i == int(3 * RATE):
                registry.promote(after)
            sends.append(pool.submit(live.say, "hi", channel, 900_000 + i))
        for s in sends:
            s.result()
    deadline, mine = time.monotonic() + 30, set(channels)
    while sum(1 for m in live.sent() if m["channel_url"] in mine) < TURNS:
        assert time.monotonic() < deadline, "not every turn was answered"
        time.sleep(0.2)
    time.sleep(1.5)  # would a second reply follow?
    stop.set()
    prober.join()
    replies = [m for m in live.sent() if m["channel_url"] in mine]
    per_channel = {c: sum(1 for m in replies if m["channel_url"] == c) for c in channels}
    assert set(per_channel.values()) == {1}, {c: n for c, n in per_channel.items() if n != 1}
    assert all(m["message"] == greeting.REPLIES["hello"].text for m in replies)
    assert failures == []
    assert seen == {before, after}  # the prober saw both versions: the switch happened under load
    versions = [live.document("turns", f"sendbird:{900_000 + i}", c)["nlu"]["model_version"]
                for i, c in enumerate(channels)]
    assert versions[0] == before and versions[-1] == after
