"""Where a training run executes: `local` (`horovodrun -np N --gloo` on this machine, here) or
`azureml` (an Azure ML command job with MPI distribution on a low-priority GPU cluster:
`training_jobs/azureml.py`).

A back-end takes a `RunSpec`, calls `on_line` with each line of the job's log as it arrives (the
worker keeps the tail and reads the progress lines `train` prints), stops the job and raises
`Cancelled` once `cancelled()` turns true, and returns the folder on this machine that holds the
trained artifact. A run that ends without one raises `RunFailed` with the reason an admin reads.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
PROGRESS = "PROGRESS "  # `train` prints one such line (then JSON) per epoch on rank 0


class RunFailed(Exception):
    """The run ended without an artifact; the message says why (shown on the Models page)."""


class Cancelled(Exception):
    """An admin cancelled the job; its processes (or the Azure ML job) were stopped."""


@dataclass(frozen=True)
class RunSpec:
    job_id: str
    data_path: Path  # the data set, on this machine
    data_uri: str  # the same data set in Blob Storage (https://ACCOUNT.blob.core.windows.net/datasets/HASH.yml)
    out_path: Path  # where the trained artifact folder ends up on this machine
    epochs: int | None = None  # None: train's default schedule
    seed: int = 13
    recipe: str | None = None  # None: train's default recipe


class Backend(Protocol):
    name: str

    def run(self, spec: RunSpec, on_line: Callable[[str], None], cancelled: Callable[[], bool]) -> Path: ...


def train_args(data: str, out: str, spec: RunSpec) -> list[str]:
    """The arguments after `python -m training_jobs` that every back-end runs on every rank."""
    args = ["train", "--data", data, "--out", out, "--seed", str(spec.seed)]
    return args + (["--epochs", str(spec.epochs)] if spec.epochs else []) + (
        ["--recipe", spec.recipe] if spec.recipe else [])


PASSED_ON = ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "PYTHONHASHSEED")
PASSED_ON_PREFIXES = ("HOROVOD_", "TF_", "OMP_", "KMP_", "CUDA", "NCCL_", "SWITCHBOARD_", "HF_")


def training_env(python: str) -> dict[str, str]:
    """What the training processes see of the worker's environment: no connection strings, keys or
    webhook URLs (their log is on the Models page), only what Python, TensorFlow and Horovod read."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_ON or k.startswith(PASSED_ON_PREFIXES)}
    env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               PYTHONPATH=str(ROOT), PATH=os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")]))
    return env


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class LocalBackend:
    """`horovodrun -np N --gloo python -m training_jobs train ...` (one plain process when N is 1).

    The launcher runs in its own process group and dies with the worker (PR_SET_PDEATHSIG), and
    horovodrun's own middleman then stops the ranks: a SIGKILLed worker leaves no training behind.
    """

    name = "local"

    def __init__(self, processes: int = 2, python: str = sys.executable, poll_s: float = 0.5) -> None:
        self.processes, self.python, self.poll_s = processes, python, poll_s

    def command(self, spec: RunSpec) -> list[str]:
        train = [self.python, "-m", "training_jobs", *train_args(str(spec.data_path), str(spec.out_path), spec)]
        if self.processes <= 1:
            return train
        horovodrun = shutil.which("horovodrun", path=str(Path(self.python).parent))
        if not horovodrun:
            raise RunFailed("horovodrun is not installed beside the worker's Python (make install)")
        return [horovodrun, "-np", str(self.processes), "-H", f"localhost:{self.processes}", "--gloo", *train]

    def run(self, spec: RunSpec, on_line: Callable[[str], None], cancelled: Callable[[], bool]) -> Path:
        env = training_env(self.python)
        proc = subprocess.Popen(self.command(spec), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
                                preexec_fn=_die_with_parent)
        tail: deque[str] = deque(maxlen=40)
        output = proc.stdout
        assert output is not None  # stdout=PIPE

        def pump() -> None:
            for line in output:
                line = line.rstrip("\n")
                tail.append(line)
                on_line(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            while proc.poll() is None:
                if cancelled():
                    _stop(proc)
                    reader.join(5)
                    raise Cancelled("cancelled by an admin; the training processes were stopped")
                time.sleep(self.poll_s)
        except BaseException:  # the worker is stopping (SystemExit from its signal handler)
            _stop(proc, grace_s=3.0)
            raise
        reader.join(10)
        if proc.returncode != 0:
            raise RunFailed(_reason(list(tail), proc.returncode))
        if not (spec.out_path / "metadata.json").exists():
            raise RunFailed(f"training ended without writing an artifact to {spec.out_path}")
        return spec.out_path


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the launcher's process group (horovodrun passes it to the ranks), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _reason(tail: list[str], code: int) -> str:
    """The line an admin should read: the CLI's own `error: ...` line if there is one."""
    for line in reversed(tail):
        text = line.split("]<stderr>:", 1)[-1].strip()  # horovodrun prefixes `[1,0]<stderr>:`
        if text.startswith("error:"):
            return text.removeprefix("error:").strip()
    last = next((t for t in reversed(tail) if t.strip()), "")
    return f"training exited with status {code}" + (f": {last.strip()[:300]}" if last else "")
