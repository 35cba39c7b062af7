"""Shared fixtures: real Azurite blob and Cosmos DB stand-in servers, and a small model trained once per
test session. Every test gets one tier marker (`make test-fast` runs the `unit` tier alone)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.stack import AZURITE_KEY, free_port
from helpers import DEMO_DATA, ROOT, run_cli, stop_process, wait_for_port

TIERS = ("unit", "stack", "browser", "horovod")
# Fixtures that start a real server or train a model (directly or through a fixture they use): a test
# whose fixture closure holds one of them needs something running, so it is not a unit test.
STACK_FIXTURES = frozenset({
    "azurite", "cosmos", "demo_model", "cascade_model",  # above
    "stack", "fuzz_stack",  # the whole stack (tests/integration, tests/contracts)
    "azurite_queues", "oauth_azurite", "cosmos_tls", "proxied", "weak_model",  # a test module's own server or model
})
# Parameters of the fixtures that run one test body over memory and a real server (`params=["memory", "cosmos"]`)
STACK_PARAMS = frozenset({"azurite", "cosmos"})


def tier(item: pytest.Item) -> str:
    """`browser` under tests/browser/, `stack` when a server or a trained model is in its fixtures, else `unit`."""
    if item.path.is_relative_to(ROOT / "tests" / "browser"):
        return "browser"
    params = item.callspec.params.values() if hasattr(item, "callspec") else ()
    if STACK_FIXTURES.intersection(item.fixturenames) or any(p in STACK_PARAMS for p in params if isinstance(p, str)):
        return "stack"
    return "unit"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A tier marked on a test (a process or a Horovod run its fixtures do not show) wins over the rule."""
    for item in items:
        marked = [m.name for m in item.iter_markers() if m.name in TIERS]
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked with more than one tier: {marked}")
        if not marked:
            item.add_marker(tier(item))


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
