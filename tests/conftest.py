"""Shared fixtures: real Azurite blob and Cosmos DB stand-in servers, and a small model trained once per
test session."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.stack import AZURITE_KEY, free_port
from helpers import DEMO_DATA, ROOT, run_cli, stop_process, wait_for_port


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> str:
    """Connection string of a fresh Azurite (the npm package, a real server): blobs and queues."""
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        pytest.fail("Azurite is not installed: run `make install` (npm ci)")
    blob, queue, table = free_port(), free_port(), free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1",
         "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table), "--location",
         str(workdir), "--skipApiVersionCheck", "--silent", "--loose", "--disableTelemetry"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(blob)
        wait_for_port(queue)
        yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;"
               f"QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;")
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def cosmos() -> str:
    """Endpoint of a fresh Cosmos DB stand-in (@vercel/cosmosdb-server, a real server over HTTP)."""
    port = free_port()
    proc = subprocess.Popen(["node", str(ROOT / "devstack" / "cosmos_server.js"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory) -> Path:
    """A fast-recipe artifact trained on the demo data with the default schedule."""
    out = tmp_path_factory.mktemp("models") / "demo"
    run_cli("train", "--data", str(DEMO_DATA), "--out", str(out), "--seed", "3", "--recipe", "fast")
    return out


@pytest.fixture(scope="session")
def cascade_model(tmp_path_factory) -> Path:
    """A cascade artifact on the demo data with a small transformer: the first two of the encoder's six
    layers, 12 epochs (well under a minute on two cores)."""
    out = tmp_path_factory.mktemp("models") / "cascade"
    run_cli("train", "--data", str(DEMO_DATA), "--out", str(out), "--seed", "3", "--recipe", "cascade",
            "--transformer-layers", "2", "--epochs", "12")
    return out
