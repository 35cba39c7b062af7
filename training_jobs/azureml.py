"""The `azureml` back-end: the training run as an Azure ML command job with MPI distribution.

The job runs `python -m training_jobs train --data ${{inputs.data}} --out ${{outputs.model}}/artifact`
on every rank, started by Azure ML's `mpirun` (`instance_count` nodes x `process_count_per_instance`
ranks) in the environment built from `training_jobs/Dockerfile.azureml` (CUDA, Horovod with MPI and
NCCL), on a low-priority GPU cluster that scales to zero. The code is a snapshot of `nlu/`,
`switchboard/` and `training_jobs/`, uploaded with the job; the data set is read from its Blob Storage URI by the
cluster's managed identity; the artifact comes back through the job's `model` output.

The artifact goes to `${{outputs.model}}/artifact`, not to the output folder itself: `train` writes a
temporary folder beside its `--out` and renames it into place, which needs a parent it can write to.
The output is in `upload` mode, so all of that happens on the node's disk and Azure ML uploads the
folder when the job ends (a blobfuse `rw_mount` would make the rename a copy of every file).

How a run is followed:

- Status: `jobs.get(name).status` every `AZUREML_POLL_SECONDS`. `Completed` -> `jobs.download(name,
  output_name="model")` and the folder holding `metadata.json` is moved to `spec.out_path`.
  `Failed`, `Canceled` (not by us), `NotResponding` and `Paused` -> `RunFailed`, whose reason names
  the Azure ML job and carries the service's error message (run history's `error.message`, which
  the SDK has no public getter for) or else the CLI's `error:` line from the log.
- Log: a daemon thread runs the SDK's own follower, `jobs.stream(name)`, which polls the job's
  `user_logs/std_log*.txt` (rank 0's, where `train` prints its PROGRESS lines) and writes new lines
  to `sys.stdout`. While it runs, `sys.stdout` is a router that hands what *that thread* writes to
  `on_line` line by line and passes everything else through, so no other output is captured. The
  SDK tapers its own polling to one fetch a minute after a couple of minutes (its
  `AZUREML_RUN_POLLING_INTERVAL_MAX` environment variable, read at import, lowers that), so lines
  arrive in batches. Lines the back-end adds itself start with `azureml: ` (submission, status
  changes). `on_line` is called from the follower thread, as `LocalBackend` calls it from its
  reader thread.
- Cancel: once `cancelled()` is true, `jobs.begin_cancel(name)` and `Cancelled`.

Low-priority pre-emption: Azure ML may take back a low-priority node at any time. The job then goes
back to `Queued` and starts over when capacity returns (train keeps no checkpoints), which this
back-end follows as any status change; when it cannot be resumed the job ends `Failed` (the error
says the node was pre-empted) or `Canceled`, and the run fails with that reason. Nothing is retried
here: the worker decides whether to queue the training job again.

azure-ai-ml is imported only when a job is built or a client is made, so importing this module is
cheap; `training_jobs/requirements-azureml.txt` pins it.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import ROOT, Cancelled, RunFailed, RunSpec, train_args

OUTPUT = "model"  # the job's output that carries the artifact folder
ARTIFACT_DIR = "artifact"  # the artifact's folder inside that output (see the module docstring)
DONE = "Completed"  # any status not named here (Queued, Preparing, Running, Finalizing, ...) is followed on
ABANDONED = {"NotResponding": "stopped responding (no heartbeat from the job)",
             "Paused": "was paused"}  # terminal for the SDK: the job is cancelled so it costs nothing more
FAILED = {"Failed": "failed", "Canceled": "was cancelled outside Switchboard (in the studio, or the "
                                          "low-priority nodes were pre-empted with no capacity to resume)"}
STATUS_ERRORS_TOLERATED = 5  # consecutive failed status checks before the run is given up


@dataclass(frozen=True)
class AzureMLSettings:
    """Where training jobs run. The identity is `DefaultAzureCredential`'s (the worker's managed
    identity in Azure, `az login` locally): no secrets here."""

    subscription_id: str
    resource_group: str
    workspace: str
    environment: str  # `name@latest` or `name:version` of the Azure ML environment
    compute: str = "gpu-low-priority"
    instance_count: int = 1
    processes_per_instance: int = 1  # one per GPU of a node
    experiment: str = "switchboard-nlu"
    poll_seconds: float = 10.0

    REQUIRED = {"AZUREML_SUBSCRIPTION_ID": "subscription_id", "AZUREML_RESOURCE_GROUP": "resource_group",
                "AZUREML_WORKSPACE": "workspace", "AZUREML_ENVIRONMENT": "environment"}

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AzureMLSettings:
        def value(key: str) -> str | None:
            return (env.get(key) or "").strip() or None

        missing = [key for key in cls.REQUIRED if not value(key)]
        if missing:
            raise ValueError(f"the azureml training back-end needs {', '.join(missing)} "
                             f"(not set); see docs/retraining.md, Training on Azure ML")
        kwargs: dict[str, Any] = {field: value(key) for key, field in cls.REQUIRED.items()}
        if value("AZUREML_COMPUTE"):
            kwargs["compute"] = value("AZUREML_COMPUTE")
        if value("AZUREML_EXPERIMENT"):
            kwargs["experiment"] = value("AZUREML_EXPERIMENT")
        for key, field in (("AZUREML_INSTANCE_COUNT", "instance_count"),
                           ("AZUREML_PROCESSES_PER_INSTANCE", "processes_per_instance")):
            if raw := value(key):
                kwargs[field] = _number(key, raw, int)
        if raw := value("AZUREML_POLL_SECONDS"):
            kwargs["poll_seconds"] = _number("AZUREML_POLL_SECONDS", raw, float)
        return cls(**kwargs)


def _number(key: str, text: str, kind: type) -> Any:
    try:
        number = kind(text)
    except ValueError:
        raise ValueError(f"{key} must be a positive {kind.__name__}, not {text!r}") from None
    if not number > 0:
        raise ValueError(f"{key} must be a positive {kind.__name__}, not {text!r}")
    return number


def stage_code(dest: Path) -> Path:
    """Copy what the job runs (`nlu/*.py`, `switchboard/` and `training_jobs/`) into `dest`, the job's
    code snapshot: the rest of the repository (node_modules, .venv, tests) has no business being uploaded."""
    dest.mkdir(parents=True, exist_ok=True)
    for package, patterns in (("nlu", ("*.py",)), ("switchboard", ("*.py", "*.json"))):
        (dest / package).mkdir(exist_ok=True)
        for source in sorted(p for pattern in patterns for p in (ROOT / package).glob(pattern)):
            shutil.copy2(source, dest / package / source.name)
    shutil.copytree(ROOT / "training_jobs", dest / "training_jobs", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile*", "*.h5", "*.onnx*"))
    return dest


def build_job(spec: RunSpec, settings: AzureMLSettings, code: str | os.PathLike | None = None):
    """The Azure ML command job for `spec` (not submitted). `code` is the folder uploaded as the job's
    code; by default a fresh snapshot made by `stage_code` in a temporary folder (the caller's)."""
    from azure.ai.ml import Input, MpiDistribution, Output, command
    from azure.ai.ml.entities import ManagedIdentityConfiguration

    if code is None:
        code = stage_code(Path(tempfile.mkdtemp(prefix="switchboard-azureml-code-")))
    args = train_args("${{inputs.data}}", "${{outputs." + OUTPUT + "}}/" + ARTIFACT_DIR, spec)
    return command(
        code=str(code),
        command=" ".join(["python", "-m", "training_jobs", *args]),
        environment=settings.environment,
        compute=settings.compute,
        instance_count=settings.instance_count,
        distribution=MpiDistribution(process_count_per_instance=settings.processes_per_instance),
        inputs={"data": Input(type="uri_file", path=spec.data_uri)},
        outputs={OUTPUT: Output(type="uri_folder", mode="upload")},
        # the cluster's managed identity reads the data set (Storage Blob Data Reader on its account)
        identity=ManagedIdentityConfiguration(),
        environment_variables={"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                               "TF_FORCE_GPU_ALLOW_GROWTH": "true"},
        experiment_name=settings.experiment,
        display_name=f"switchboard-{spec.job_id}",
        description=f"Switchboard NLU training job {spec.job_id}: {spec.data_uri}",
        tags={"switchboard_job_id": spec.job_id},
    )


def job_operations(settings: AzureMLSettings):
    """`MLClient(...).jobs` for the workspace, with `DefaultAzureCredential`."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    client = MLClient(DefaultAzureCredential(), subscription_id=settings.subscription_id,
                      resource_group_name=settings.resource_group, workspace_name=settings.workspace)
    return client.jobs


class AzureMLBackend:
    """Runs a `RunSpec` as an Azure ML job and follows it to the end (see the module docstring)."""

    name = "azureml"

    def __init__(self, settings: AzureMLSettings, jobs: Any = None, sleep: Callable[[float], None] = time.sleep,
                 log_grace_s: float = 90.0) -> None:
        self.settings, self._jobs, self.sleep, self.log_grace_s = settings, jobs, sleep, log_grace_s

    @property
    def jobs(self):
        if self._jobs is None:
            self._jobs = job_operations(self.settings)
        return self._jobs

    def run(self, spec: RunSpec, on_line: Callable[[str], None], cancelled: Callable[[], bool]) -> Path:
        jobs = self.jobs
        if cancelled():
            raise Cancelled("cancelled by an admin before the Azure ML job was submitted")
        with tempfile.TemporaryDirectory(prefix="switchboard-azureml-code-") as code:
            job = build_job(spec, self.settings, stage_code(Path(code)))
            try:
                submitted = jobs.create_or_update(job)
            except Exception as e:  # noqa: BLE001 - whatever the SDK raises, the admin reads it
                raise RunFailed(f"could not submit the Azure ML job: {_one_line(e)}") from e
        name = submitted.name
        if not name:
            raise RunFailed("Azure ML accepted the job but gave it no name to follow")
        url = getattr(submitted, "studio_url", None)
        on_line(f"azureml: submitted job {name}" + (f" ({url})" if url else ""))
        follower = _LogFollower(jobs, name, on_line)
        follower.start()
        try:
            status = self._wait(jobs, name, on_line, cancelled, follower)
            follower.finish(self.log_grace_s)
            if status != DONE:
                raise RunFailed(_failure_reason(jobs, name, status, url, follower.tail))
            return _fetch_artifact(jobs, name, spec.out_path)
        except (KeyboardInterrupt, SystemExit):  # the worker is stopping: its retry submits afresh,
            _cancel(jobs, name)  # so this one must not go on costing GPU time
            raise
        finally:
            follower.stop()

    def _wait(self, jobs, name: str, on_line, cancelled, follower: _LogFollower) -> str:
        """Poll until the job leaves the in-progress statuses; its last status."""
        last, errors = None, 0
        while True:
            if cancelled():
                follower.stop()
                _cancel(jobs, name)
                raise Cancelled(f"cancelled by an admin; Azure ML job {name} was cancelled")
            try:
                status = jobs.get(name).status
                errors = 0
            except Exception as e:  # noqa: BLE001 - a network hiccup should not end an hour of training
                errors += 1
                if errors >= STATUS_ERRORS_TOLERATED:
                    raise RunFailed(f"lost track of Azure ML job {name}: {_one_line(e)}") from e
                on_line(f"azureml: could not read the status of {name} ({_one_line(e)}); retrying")
                self.sleep(self.settings.poll_seconds)
                continue
            if status != last:
                on_line(f"azureml: job {name} is {status}")
                last = status
            if status == DONE or status in FAILED:
                return status
            if status in ABANDONED:
                _cancel(jobs, name)
                return status
            self.sleep(self.settings.poll_seconds)


def _cancel(jobs, name: str) -> None:
    try:
        jobs.begin_cancel(name)
    except Exception:  # noqa: BLE001 - already finished, or unreachable: nothing more to do here
        pass


def _failure_reason(jobs, name: str, status: str, url: str | None, tail: list[str]) -> str:
    what = FAILED.get(status) or ABANDONED.get(status) or f"ended {status}"
    detail = _service_error(jobs, name) or _log_error(tail)
    reason = f"Azure ML job {name} {what}" + (f": {detail}" if detail else "")
    return reason + (f" ({url})" if url else "")


def _service_error(jobs, name: str) -> str | None:
    """The error run history records for the job. The SDK's `Job` has no error field; its own
    follower (`stream`) reads this through the private `_runs_operations`, and so does this."""
    try:
        error = jobs._runs_operations.get_run_details(name).error.error
        return _one_line(error.message) if error and error.message else None
    except Exception:  # noqa: BLE001 - the message is a courtesy; the job's status already said it failed
        return None


def _log_error(tail: list[str]) -> str | None:
    """The CLI's own `error: ...` line (the same one LocalBackend reports), else None."""
    for line in reversed(tail):
        text = line.split("]<stderr>:", 1)[-1].strip()
        if text.startswith("error:"):
            return text.removeprefix("error:").strip()
    return None


def _fetch_artifact(jobs, name: str, out: Path) -> Path:
    """Download the job's `model` output and move the artifact folder in it to `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    download = Path(tempfile.mkdtemp(prefix=f".{out.name}-azureml-", dir=out.parent))
    try:
        try:
            jobs.download(name, download_path=str(download), output_name=OUTPUT)
        except Exception as e:  # noqa: BLE001
            raise RunFailed(f"Azure ML job {name} completed but its artifact could not be downloaded: "
                            f"{_one_line(e)}") from e
        found = sorted(download.rglob("metadata.json"), key=lambda p: (len(p.parts), str(p)))
        if not found:
            raise RunFailed(f"Azure ML job {name} completed but its output {OUTPUT!r} holds no artifact "
                            f"(no metadata.json)")
        shutil.rmtree(out, ignore_errors=True)  # an earlier artifact at the same path, as train does
        shutil.move(str(found[0].parent), str(out))
        return out
    finally:
        shutil.rmtree(download, ignore_errors=True)


def _one_line(value: object, limit: int = 500) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _LogFollower:
    """`jobs.stream(name)` on a daemon thread, its stdout turned into `on_line` calls."""

    def __init__(self, jobs, name: str, on_line: Callable[[str], None]) -> None:
        self.jobs, self.name, self.on_line = jobs, name, on_line
        self._tail: deque[str] = deque(maxlen=40)
        self._partial = ""
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"azureml-log-{name}", daemon=True)

    @property
    def tail(self) -> list[str]:
        return list(self._tail)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float) -> None:
        """Wait (up to `timeout`) for the follower to fetch the last lines of a finished job."""
        self._thread.join(timeout)
        self.stop()

    def stop(self) -> None:
        """From now on nothing more reaches `on_line` (the thread ends with the job's stream)."""
        self._stopped.set()

    def _emit(self, line: str) -> None:
        if not self._stopped.is_set():
            self._tail.append(line)
            self.on_line(line)

    def _write(self, text: str) -> None:
        lines = (self._partial + text.replace("\r\n", "\n")).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._emit(line)

    def _follow(self) -> None:
        _route_stdout(self._write)
        try:
            self.jobs.stream(self.name)
        except Exception as e:  # noqa: BLE001 - it raises when the job fails: the status says so already
            if self._partial:
                self._write("\n")
            self._emit(f"azureml: log stream ended: {_one_line(e, 300)}")
        finally:
            if self._partial:
                self._write("\n")
            _unroute_stdout()


class _ThreadStdout:
    """`sys.stdout` while logs are followed: writes from a follower thread go to its sink, all other
    writes to the stream that was `sys.stdout` before."""

    def __init__(self, fallback) -> None:
        self.fallback = fallback
        self.sinks: dict[int, Callable[[str], None]] = {}

    def write(self, text: str) -> int:
        sink = self.sinks.get(threading.get_ident())
        if sink is None:
            return self.fallback.write(text)
        sink(text)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.sinks:
            self.fallback.flush()

    def __getattr__(self, name: str):
        return getattr(self.fallback, name)


_ROUTE_LOCK = threading.Lock()


def _route_stdout(sink: Callable[[str], None]) -> None:
    with _ROUTE_LOCK:
        if not isinstance(sys.stdout, _ThreadStdout):
            sys.stdout = _ThreadStdout(sys.stdout)
        sys.stdout.sinks[threading.get_ident()] = sink


def _unroute_stdout() -> None:
    with _ROUTE_LOCK:
        router = sys.stdout
        if isinstance(router, _ThreadStdout):
            router.sinks.pop(threading.get_ident(), None)
            if not router.sinks:
                sys.stdout = router.fallback
