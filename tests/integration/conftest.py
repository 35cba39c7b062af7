"""The whole stack on free ports (the same launcher as `make run`), started once per test session,
with the fault proxy in front of its backing services (forwarding, until a test says otherwise)."""
from __future__ import annotations

import pytest

from devstack.stack import Ports, Stack
from livestack import Live


@pytest.fixture(scope="session")
def stack(tmp_path_factory, demo_model):
    stack = Stack(tmp_path_factory.mktemp("devstack"), Ports.free(), model=demo_model, faults=True)
    stack.start_all()
    yield stack
    stack.stop_all()


@pytest.fixture
def live(stack) -> Live:
    return Live(stack)
