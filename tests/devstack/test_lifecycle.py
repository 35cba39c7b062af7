"""`make run` (`python -m devstack run`) leaves nothing behind, and does not start over a stack it cannot
replace.

Killed by SIGKILL (as a test harness, a closed terminal or the OOM killer may end it), the launcher
takes every process of the stack with it, so the next `make run` finds its ports free. A port already
in use stops the launcher before it starts anything, with one line naming the service, the port and
the setting that moves it.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devstack.stack import Ports, port_setting
from helpers import ROOT

UP = "Press Ctrl-C to stop."


def run_command(var: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "devstack", "run", "--var", str(var), *args]


def on_ports(ports: Ports) -> dict[str, str]:
    """The environment of a launcher whose stack listens on `ports` (a training worker of one process)."""
    return {**os.environ, "TRAINING_PROCESSES": "1",
            **{port_setting(name): str(port) for name, port in dataclasses.asdict(ports).items()}}


def listening(ports: Ports) -> list[int]:
    busy = []
    for port in dataclasses.asdict(ports).values():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those not yet ended (a zombie has ended: it holds no port and runs nothing)."""
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


# The launcher itself, or what started it (make, a shell: here `sh -c`, which waits for it as make does).
@pytest.mark.parametrize("parent", [[], ["sh", "-c", '"$@"; exit $?', "sh"]], ids=["launcher", "its-parent"])
def test_a_sigkilled_launcher_leaves_no_process_and_no_port_behind(tmp_path, demo_model, parent):
    ports, output = Ports.free(), tmp_path / "launcher.out"
    with open(output, "w") as out:
        launched = subprocess.Popen(parent + run_command(tmp_path / "var", "--model", str(demo_model)), cwd=ROOT,
                                    env=on_ports(ports), stdout=out, stderr=subprocess.STDOUT)
    stack: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 400
        while UP not in output.read_text():
            assert launched.poll() is None, f"the stack did not start:\n{output.read_text()}"
            assert time.monotonic() < deadline, f"the stack was not up after 400 s:\n{output.read_text()}"
            time.sleep(0.5)
        stack = psutil.Process(launched.pid).children(recursive=True)
        assert len(listening(ports)) == len(dataclasses.fields(Ports)), "every service listens before the kill"
        launched.send_signal(signal.SIGKILL)
        launched.wait(10)
        deadline = time.monotonic() + 15
        while (left := running(stack)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, [" ".join(p.cmdline()[:4]) for p in left]
        assert listening(ports) == []
    finally:
        if launched.poll() is None:
            launched.kill()
        for p in running(stack):  # what a failure left: not for the next test to trip over
            p.kill()


@pytest.mark.parametrize(("service", "named"), [("blob", "Azurite's blob port"),  # the first to start
                                               ("admin", "the admin site's port")])  # a late one
def test_a_port_in_use_is_named_with_its_setting_and_nothing_starts(tmp_path, service, named):
    ports = Ports.free()
    port = getattr(ports, service)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(run_command(tmp_path / "var"), cwd=ROOT, env=on_ports(ports), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert done.returncode != 0
    assert done.stdout.strip().splitlines() == [f"could not start the stack: {named} {port} is in use "
                                                f"(another make run?); stop it or set {port_setting(service)}"]
    assert not any((tmp_path / "var" / "logs").iterdir()), "no service started, so none wrote a log"
