"""Paths and helpers shared by the tests (fixtures are in conftest.py)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "bench" / "data"  # the public benchmark data sets (CLINC150, SNIPS)
DEMO_DATA = ROOT / "training_jobs" / "data" / "demo.yml"


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def stop_process(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL if it lingers (Azurite waits on idle keep-alive connections)."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_cli(*args: str, module: str = "training_jobs", check: bool = True, env: dict | None = None,
            launcher: list[str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = (launcher or []) + [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


def copy_artifact(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


_BLOCKER = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is made unimportable by this test")
BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, Blocked())
"""


def run_without(blocked: tuple[str, ...], code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (the repository and function_app/ on its path) in which the
    top-level packages `blocked` cannot be imported; fails the test with what it printed if it fails."""
    path = os.pathsep.join([str(ROOT), str(ROOT / "function_app"), str(ROOT / "tests")])
    proc = subprocess.run([sys.executable, "-c", _BLOCKER + code, ",".join(blocked)], cwd=ROOT, timeout=timeout,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path,
                                                               "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc
