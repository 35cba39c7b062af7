"""The navigation bar's counts belong to their app: two apps in one process share none."""
from __future__ import annotations

import re

from admin_site import create_app
from adminclient import Client


def counts(client: Client) -> dict[str, int]:
    page = client.get("/").get_data(as_text=True)
    return {name: int(n) for name, n in re.findall(r'data-count="(\w+)">(\d+)<', page)}


def hand_off(services, conversation_id: str) -> None:
    services.documents["conversations"].upsert({"id": conversation_id, "handoff": True, "updated_at": 1})


def test_a_count_cached_in_one_app_is_not_seen_by_another(services):
    hand_off(services, "c1")
    services.queues.park("turns-incoming-poison", "{}")
    first = Client(create_app(services=services), "viewer")
    assert counts(first) == {"inbox": 1, "poison": 1}  # counted, and kept for a few seconds
    hand_off(services, "c2")
    second = Client(create_app(services=services), "viewer")
    assert counts(second) == {"inbox": 2, "poison": 1}  # counted by this app, not the first one's count
    assert counts(first) == {"inbox": 1, "poison": 1}  # the first app still shows what it counted
