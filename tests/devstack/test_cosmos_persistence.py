"""The Cosmos DB stand-in keeps its data across restarts with --data (what `make run` passes): a
snapshot written on SIGTERM and every --snapshot-seconds, restored on start with the same ETags."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.cosmos import CosmosClient, PartitionKey, exceptions

from devstack.stack import COSMOS_KEY, Ports, Stack, free_port
from helpers import ROOT, stop_process, wait_for_port

pytestmark = pytest.mark.stack  # every test starts the stand-in (a node process)
SERVER = ROOT / "devstack" / "cosmos_server.js"
SYSTEM = ("_rid", "_self", "_etag", "_ts")


def start(tmp_path: Path, *args: str, cwd: Path | None = None) -> tuple[subprocess.Popen, str]:
    """The stand-in on a free port with `args`, logging to tmp_path/cosmos.log; its endpoint."""
    port = free_port()
    with open(tmp_path / "cosmos.log", "ab") as log:
        proc = subprocess.Popen(["node", str(SERVER), str(port), *args], cwd=cwd or ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
    except TimeoutError:
        proc.kill()
        raise AssertionError((tmp_path / "cosmos.log").read_text()) from None
    return proc, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def stand_in(tmp_path: Path, *args: str,
             cwd: Path | None = None) -> Iterator[tuple[subprocess.Popen, CosmosClient]]:
    proc, endpoint = start(tmp_path, *args, cwd=cwd)
    try:
        yield proc, CosmosClient(endpoint, COSMOS_KEY, enable_endpoint_discovery=False)
    finally:
        if proc.poll() is None:
            stop_process(proc)


def stop(proc: subprocess.Popen, tmp_path: Path) -> None:
    stop_process(proc)  # SIGTERM: the snapshot is written before the process exits
    assert proc.returncode == 0, (tmp_path / "cosmos.log").read_text()


def everything(client: CosmosClient) -> dict:
    """Every container's documents by id, and its partition key paths."""
    db = client.get_database_client("admin")
    out = {}
    for props in db.list_containers():
        container = db.get_container_client(props["id"])
        docs = container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
        out[props["id"]] = {"paths": props["partitionKey"]["paths"], "docs": {d["id"]: d for d in docs}}
    return out


def test_data_and_etags_survive_restarts(tmp_path):
    data = tmp_path / "var" / "cosmos" / "data.json"  # its folder does not exist yet
    with stand_in(tmp_path, "--data", str(data)) as (proc, client):
        db = client.create_database("admin")
        intents = db.create_container("intents", PartitionKey("/id"))
        turns = db.create_container("turns", PartitionKey("/conversation_id"))
        intents.create_item({"id": "greet", "examples": ["hi", "hello"], "threshold": 0.5})
        intents.create_item({"id": "refund", "examples": ["money back"], "nested": {"a": [1, None, True]}})
        for i, conversation in enumerate(["c1", "c1", "c2"]):
            turns.create_item({"id": f"t{i}", "conversation_id": conversation, "text": f"turn {i}"})
        stale = intents.read_item("refund", "refund")["_etag"]
        intents.replace_item("refund", {"id": "refund", "examples": ["money back", "return it"]})
        before = everything(client)
        stop(proc, tmp_path)
    assert data.exists() and not [p for p in data.parent.iterdir() if p != data]  # no temporary file left

    with stand_in(tmp_path, "--data", str(data)) as (proc, client):
        after = everything(client)
        assert after == before  # bodies, partition keys, and _etag/_ts/_rid/_self as they were
        assert after["turns"]["paths"] == ["/conversation_id"] and after["intents"]["paths"] == ["/id"]
        db = client.get_database_client("admin")
        intents, turns = db.get_container_client("intents"), db.get_container_client("turns")
        assert intents.read_item("greet", "greet") == before["intents"]["docs"]["greet"]
        assert turns.read_item("t2", "c2") == before["turns"]["docs"]["t2"]
        by_text = turns.query_items("SELECT * FROM c WHERE c.text != @x", enable_cross_partition_query=True,
                                    parameters=[{"name": "@x", "value": ""}])
        assert sorted(d["id"] for d in by_text) == ["t0", "t1", "t2"]
        in_c1 = turns.query_items("SELECT * FROM c WHERE c.conversation_id = @c",  # the stand-in wants the
                                  parameters=[{"name": "@c", "value": "c1"}])  # key in the query itself
        assert [d["id"] for d in in_c1] == ["t0", "t1"]

        # If-Match: the ETag read before the restart is still current; the one overwritten before is not.
        etag = before["intents"]["docs"]["greet"]["_etag"]
        replaced = intents.replace_item("greet", {"id": "greet", "examples": ["hi", "hey"]}, etag=etag,
                                        match_condition=MatchConditions.IfNotModified)
        assert replaced["_etag"] != etag
        with pytest.raises(exceptions.CosmosAccessConditionFailedError):
            intents.replace_item("refund", {"id": "refund", "examples": []}, etag=stale,
                                 match_condition=MatchConditions.IfNotModified)
        with pytest.raises(exceptions.CosmosAccessConditionFailedError):
            intents.replace_item("greet", {"id": "greet", "examples": []}, etag=etag,
                                 match_condition=MatchConditions.IfNotModified)

        # New resources are numbered after the restored ones: no _rid is reused.
        turns.create_item({"id": "t3", "conversation_id": "c2", "text": "turn 3"})
        intents.create_item({"id": "bye", "examples": ["bye"]})
        db.create_container("outbox", PartitionKey("/conversation_id")).create_item(
            {"id": "o1", "conversation_id": "c1"})
        client.create_database("other")
        changed = everything(client)
        rids = [d["_rid"] for c in changed.values() for d in c["docs"].values()]
        assert len(rids) == len(set(rids)) == 8
        containers = [c["_rid"] for c in db.list_containers()]
        assert len(set(containers)) == 3
        assert len({d["_rid"] for d in client.list_databases()}) == 2
        stop(proc, tmp_path)

    with stand_in(tmp_path, "--data", str(data)) as (proc, client):
        again = everything(client)
        assert again == changed
        assert again["intents"]["docs"]["greet"]["examples"] == ["hi", "hey"]
        assert again["intents"]["docs"]["greet"]["_etag"] == replaced["_etag"]
        assert sorted(d["id"] for d in client.list_databases()) == ["admin", "other"]


def test_a_killed_process_keeps_the_periodic_snapshot(tmp_path):
    data = tmp_path / "data.json"
    with stand_in(tmp_path, "--data", str(data), "--snapshot-seconds", "0.3") as (proc, client):
        container = client.create_database("admin").create_container("faq", PartitionKey("/topic"))
        saved = container.create_item({"id": "q1", "topic": "shipping", "answer": "3 days"})
        deadline = time.monotonic() + 10
        while not (data.exists() and "3 days" in data.read_text()):
            assert time.monotonic() < deadline, "no periodic snapshot"
            time.sleep(0.05)
        written = data.stat().st_mtime_ns
        time.sleep(1)  # a few intervals without a change: nothing to write
        assert data.stat().st_mtime_ns == written
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    with stand_in(tmp_path, "--data", str(data)) as (proc, client):
        container = client.get_database_client("admin").get_container_client("faq")
        assert container.read_item("q1", "shipping") == saved


def test_without_data_nothing_is_written(tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    with stand_in(tmp_path, cwd=work) as (proc, client):
        client.create_database("admin").create_container("faq", PartitionKey("/id")).create_item({"id": "q"})
        stop(proc, tmp_path)
    assert list(work.iterdir()) == []
    with stand_in(tmp_path, cwd=work) as (proc, client):
        assert list(client.list_databases()) == []


def test_an_unreadable_snapshot_is_refused_not_overwritten(tmp_path):
    data = tmp_path / "data.json"
    data.write_text('{"format": "switchboard-cosmos-snapshot/1", "databases": [')
    proc = subprocess.run(["node", str(SERVER), str(free_port()), "--data", str(data)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "cannot restore" in proc.stderr
    assert data.read_text().endswith("[")


def test_the_stack_keeps_cosmos_data_in_its_var_folder(tmp_path):
    stack = Stack(tmp_path, Ports.free())
    endpoint = f"http://127.0.0.1:{stack.ports.cosmos}"
    stack.start("cosmos", timeout=30)
    try:
        client = CosmosClient(endpoint, COSMOS_KEY, enable_endpoint_discovery=False)
        client.create_database("switchboard").create_container("conversations", PartitionKey("/id")) \
            .create_item({"id": "conv", "state": {"step": 2}})
    finally:
        stack.stop("cosmos")  # SIGTERM to its process group, as `make run` ends
    snapshot = json.loads((tmp_path / "cosmos" / "data.json").read_text())
    assert [db["resource"]["id"] for db in snapshot["databases"]] == ["switchboard"]
    stack.start("cosmos", timeout=30)
    try:
        client = CosmosClient(endpoint, COSMOS_KEY, enable_endpoint_discovery=False)
        conversations = client.get_database_client("switchboard").get_container_client("conversations")
        assert conversations.read_item("conv", "conv")["state"] == {"step": 2}
    finally:
        stack.stop("cosmos")
    assert os.path.exists(tmp_path / "logs" / "cosmos.log")
