"""The azureml back-end: the job it builds (real azure-ai-ml classes) and how it follows a job, against a
fake of the SDK's job operations (no network, no sleeping)."""
from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from training_jobs import azureml
from training_jobs.azureml import AzureMLBackend, AzureMLSettings, build_job, job_operations
from training_jobs.backends import Cancelled, RunFailed, RunSpec

ENV = {"AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001", "AZUREML_RESOURCE_GROUP": "rg-bots",
       "AZUREML_WORKSPACE": "ws-bots", "AZUREML_ENVIRONMENT": "switchboard-training@latest"}
DATA_URI = "https://bots.blob.core.windows.net/datasets/3f2a.yml"
NAME = "keen_lamp_7x2"  # the name Azure ML gives the submitted job
URL = f"https://ml.azure.com/runs/{NAME}"


def spec(tmp_path: Path, epochs: int | None = 12) -> RunSpec:
    return RunSpec(job_id="job-42", data_path=tmp_path / "data.yml", data_uri=DATA_URI,
                   out_path=tmp_path / "models" / "job-42", epochs=epochs, seed=7)


def settings(**overrides) -> AzureMLSettings:
    return AzureMLSettings.from_env({**ENV, **overrides})


# --- settings ---------------------------------------------------------------------------------------

def test_settings_from_env_with_defaults():
    s = AzureMLSettings.from_env(ENV)
    assert (s.subscription_id, s.resource_group, s.workspace, s.environment) == (
        ENV["AZUREML_SUBSCRIPTION_ID"], "rg-bots", "ws-bots", "switchboard-training@latest")
    assert (s.compute, s.instance_count, s.processes_per_instance, s.experiment, s.poll_seconds) == (
        "gpu-low-priority", 1, 1, "switchboard-nlu", 10.0)


def test_settings_from_env_overrides():
    s = AzureMLSettings.from_env({**ENV, "AZUREML_COMPUTE": "gpu-a100", "AZUREML_INSTANCE_COUNT": "3",
                                  "AZUREML_PROCESSES_PER_INSTANCE": "4", "AZUREML_EXPERIMENT": "nlu-nightly",
                                  "AZUREML_POLL_SECONDS": "2.5", "AZUREML_ENVIRONMENT": "switchboard-training:7"})
    assert (s.compute, s.instance_count, s.processes_per_instance, s.experiment, s.poll_seconds, s.environment) == (
        "gpu-a100", 3, 4, "nlu-nightly", 2.5, "switchboard-training:7")


@pytest.mark.parametrize("missing", sorted(AzureMLSettings.REQUIRED))
def test_a_missing_setting_is_named(missing):
    with pytest.raises(ValueError, match=missing):
        AzureMLSettings.from_env({k: v for k, v in ENV.items() if k != missing})
    with pytest.raises(ValueError, match=missing):
        AzureMLSettings.from_env({**ENV, missing: "  "})


@pytest.mark.parametrize("key,value", [("AZUREML_INSTANCE_COUNT", "two"), ("AZUREML_PROCESSES_PER_INSTANCE", "0"),
                                       ("AZUREML_POLL_SECONDS", "-1")])
def test_a_bad_number_is_named(key, value):
    with pytest.raises(ValueError, match=key):
        AzureMLSettings.from_env({**ENV, key: value})


def test_job_operations_come_from_an_ml_client_for_the_workspace():
    jobs = job_operations(settings())  # builds the client only: no request is made
    assert type(jobs).__name__ == "JobOperations"
    assert jobs._operation_scope.subscription_id == ENV["AZUREML_SUBSCRIPTION_ID"]
    assert (jobs._operation_scope.resource_group_name, jobs._operation_scope.workspace_name) == ("rg-bots", "ws-bots")


# --- the job ----------------------------------------------------------------------------------------

def test_the_job_runs_train_on_every_mpi_rank(tmp_path):
    from azure.ai.ml.entities import Command

    job = build_job(spec(tmp_path), settings(AZUREML_INSTANCE_COUNT="2", AZUREML_PROCESSES_PER_INSTANCE="4",
                                             AZUREML_COMPUTE="gpu-a100", AZUREML_ENVIRONMENT="switchboard-training:3"),
                    code=tmp_path)
    assert isinstance(job, Command)
    assert job.command == ("python -m training_jobs train --data ${{inputs.data}} "
                           "--out ${{outputs.model}}/artifact --seed 7 --epochs 12")
    assert job.distribution.type == "mpi"
    assert job.distribution.process_count_per_instance == 4
    assert job.resources.instance_count == 2
    assert job.compute == "gpu-a100"
    assert job.environment == "switchboard-training:3"
    assert job.code == str(tmp_path)


def test_the_job_reads_the_data_set_and_uploads_the_model(tmp_path):
    job = build_job(spec(tmp_path), settings(), code=tmp_path)
    assert (job.compute, job.environment) == ("gpu-low-priority", "switchboard-training@latest")
    assert set(job.inputs) == {"data"}
    assert (job.inputs["data"].type, job.inputs["data"].path) == ("uri_file", DATA_URI)
    assert set(job.outputs) == {"model"}
    assert (job.outputs["model"].type, job.outputs["model"].mode) == ("uri_folder", "upload")
    assert job.identity.type == "managed_identity"
    assert job.environment_variables["PYTHONUNBUFFERED"] == "1"
    assert job.experiment_name == "switchboard-nlu"
    assert "job-42" in job.display_name
    assert job.tags == {"switchboard_job_id": "job-42"}
    # what the service receives
    rest = job._to_job()._to_rest_object().properties
    assert rest.inputs["data"].uri == DATA_URI
    assert rest.distribution.process_count_per_instance == 1


def test_without_epochs_train_picks_its_schedule(tmp_path):
    job = build_job(spec(tmp_path, epochs=None), settings(), code=tmp_path)
    assert job.command.endswith("--out ${{outputs.model}}/artifact --seed 7")


def test_the_requested_recipe_reaches_every_rank(tmp_path):
    job = build_job(dataclasses.replace(spec(tmp_path), recipe="cascade"), settings(), code=tmp_path)
    assert job.command.endswith("--seed 7 --epochs 12 --recipe cascade")


def test_the_code_snapshot_holds_the_packages_and_nothing_else(tmp_path):
    code = azureml.stage_code(tmp_path / "code")
    assert sorted(p.name for p in code.iterdir()) == ["nlu", "switchboard", "training_jobs"]
    assert (code / "training_jobs" / "__main__.py").is_file() and (code / "nlu" / "dataset.py").is_file()
    assert (code / "training_jobs" / "data" / "demo.yml").is_file() and (code / "switchboard" / "errors.py").is_file()
    assert not list(code.rglob("Dockerfile*")) and not list(code.rglob("__pycache__"))
    assert not (code / "nlu" / "requirements.txt").exists()


# --- following a job --------------------------------------------------------------------------------

class PolledForever(BaseException):
    """Raised past any sensible number of polls (a BaseException, so the back-end cannot swallow it)."""


class FakeJobs:
    """What AzureMLBackend uses of `MLClient(...).jobs`. Each `get` returns the next status (the last
    one repeats); `stream` prints the log to stdout as the SDK does; `download` writes the output."""

    def __init__(self, statuses, log=(), error=None, artifact=True, stream_error=None):
        self.statuses, self.log, self.artifact, self.stream_error = list(statuses), list(log), artifact, stream_error
        self.submitted, self.cancels, self.downloads, self.gets = [], [], [], 0
        self._runs_operations = SimpleNamespace(get_run_details=lambda name: SimpleNamespace(
            error=SimpleNamespace(error=SimpleNamespace(message=error, code="UserError")) if error else None))

    def create_or_update(self, job):
        code = Path(job.code)  # the snapshot exists while the job is submitted
        self.submitted.append((job, sorted(p.name for p in code.iterdir())))
        return SimpleNamespace(name=NAME, studio_url=URL, status="Starting")

    def get(self, name):
        assert name == NAME
        self.gets += 1
        if self.gets > 50:
            raise PolledForever(self.statuses)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(status, Exception):
            raise status
        return SimpleNamespace(name=name, status=status)

    def stream(self, name):
        assert name == NAME
        print(f"RunId: {name}")
        print(f"Web View: {URL}")
        print("\nStreaming user_logs/std_log_process_0.txt\n========================================\n")
        for line in self.log:
            sys.stdout.write(line + "\n")
        if self.stream_error:
            raise self.stream_error

    def begin_cancel(self, name):
        self.cancels.append(name)
        self.statuses = ["Canceled"]
        return SimpleNamespace(wait=lambda timeout=None: None)

    def download(self, name, *, download_path, output_name=None, all=False):
        self.downloads.append((name, output_name))
        out = Path(download_path) / "named-outputs" / output_name
        out.mkdir(parents=True)
        if self.artifact:
            (out / "artifact").mkdir()
            (out / "artifact" / "metadata.json").write_text(json.dumps({"version": "trained-on-azure"}))
            (out / "artifact" / "model.onnx").write_bytes(b"onnx")


def run(jobs, tmp_path, cancelled=lambda: False, **env):
    lines: list[str] = []
    slept: list[float] = []
    backend = AzureMLBackend(settings(**env), jobs=jobs, sleep=slept.append, log_grace_s=10)
    try:
        return backend.run(spec(tmp_path), lines.append, cancelled), lines, slept
    finally:
        run.lines, run.slept = lines, slept


LOG = ["INFO training_jobs.train: 1,200 examples, 14 intents", 'PROGRESS {"epoch": 1, "epochs": 12}',
       'PROGRESS {"epoch": 12, "epochs": 12}', '{"artifact": "/mnt/azureml/outputs/model/artifact"}']


def test_a_completed_job_streams_its_log_and_returns_the_artifact(tmp_path):
    jobs = FakeJobs(["Queued", "Queued", "Running", "Running", "Finalizing", "Completed"], log=LOG)
    out, lines, slept = run(jobs, tmp_path, AZUREML_POLL_SECONDS="7")
    assert out == tmp_path / "models" / "job-42"
    assert json.loads((out / "metadata.json").read_text()) == {"version": "trained-on-azure"}
    assert (out / "model.onnx").read_bytes() == b"onnx"
    assert not [p for p in out.parent.iterdir() if p != out]  # the download folder is gone
    assert jobs.downloads == [(NAME, "model")]
    job, code = jobs.submitted[0]
    assert code == ["nlu", "switchboard", "training_jobs"] and job.tags == {"switchboard_job_id": "job-42"}
    # the job's log, in order, with the status changes around it
    assert [line for line in lines if line in LOG] == LOG
    assert lines[0] == f"azureml: submitted job {NAME} ({URL})"
    status_lines = [line for line in lines if line.startswith("azureml: job ")]
    assert status_lines == [f"azureml: job {NAME} is {s}" for s in ("Queued", "Running", "Finalizing", "Completed")]
    assert slept == [7.0] * 5 and jobs.gets == 6


def test_a_job_requeued_after_pre_emption_is_followed_to_the_end(tmp_path):
    jobs = FakeJobs(["Queued", "Running", "Queued", "Preparing", "Running", "Completed"], log=LOG)
    out, lines, _ = run(jobs, tmp_path)
    assert (out / "metadata.json").exists()
    assert [line.rsplit(" ", 1)[1] for line in lines if line.startswith("azureml: job ")] == [
        "Queued", "Running", "Queued", "Preparing", "Running", "Completed"]


def test_a_failed_job_names_the_job_and_the_service_error(tmp_path):
    error = "Execution failed. User process 'python' exited with status code 1."
    jobs = FakeJobs(["Queued", "Running", "Failed"], log=LOG[:2], error=error,
                    stream_error=RuntimeError("Exception :\n {\n \"error\": {...}\n}"))
    with pytest.raises(RunFailed) as failed:
        run(jobs, tmp_path)
    assert str(failed.value) == f"Azure ML job {NAME} failed: {error} ({URL})"
    assert jobs.downloads == [] and jobs.cancels == []
    assert not (tmp_path / "models" / "job-42").exists()
    assert [line for line in run.lines if line in LOG] == LOG[:2]  # the log up to the failure


def test_without_a_service_error_the_cli_error_line_is_the_reason(tmp_path):
    jobs = FakeJobs(["Running", "Failed"], log=["INFO loading", "error: bad training data: line 3: no intent"])
    with pytest.raises(RunFailed, match=rf"^Azure ML job {NAME} failed: bad training data: line 3: no intent"):
        run(jobs, tmp_path)


@pytest.mark.parametrize("status,says", [("Canceled", "pre-empted"), ("NotResponding", "stopped responding"),
                                         ("Paused", "paused")])
def test_a_job_ended_by_azure_is_a_failed_run(tmp_path, status, says):
    jobs = FakeJobs(["Queued", "Running", status], log=LOG[:2],
                    error="The low priority compute nodes were preempted" if status == "Canceled" else None)
    with pytest.raises(RunFailed) as failed:
        run(jobs, tmp_path)
    assert NAME in str(failed.value) and says in str(failed.value)
    if status == "Canceled":
        assert "The low priority compute nodes were preempted" in str(failed.value)
    # a job given up on while Azure ML still counts it as alive is cancelled, so it costs nothing more
    assert jobs.cancels == ([] if status == "Canceled" else [NAME])
    assert jobs.downloads == []


def test_cancelling_cancels_the_azure_ml_job(tmp_path):
    started, release = threading.Event(), threading.Event()

    class SlowJobs(FakeJobs):
        def stream(self, name):
            print("PROGRESS before the cancel")
            started.set()
            release.wait(10)
            print("PROGRESS after the cancel")  # must not reach on_line any more

        def begin_cancel(self, name):
            super().begin_cancel(name)
            release.set()

    jobs = SlowJobs(["Queued", "Running"])
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) >= 5 and started.wait(10)  # asked before submitting, then before each poll

    with pytest.raises(Cancelled, match=NAME):
        run(jobs, tmp_path, cancelled)
    assert jobs.cancels == [NAME]
    assert jobs.downloads == []
    assert jobs.gets == 3  # three polls, then the cancel before the fourth
    for _ in range(100):  # the follower prints its last line and ends with the stream
        if not isinstance(sys.stdout, azureml._ThreadStdout):
            break
        threading.Event().wait(0.05)
    assert not isinstance(sys.stdout, azureml._ThreadStdout)
    assert "PROGRESS before the cancel" in run.lines and "PROGRESS after the cancel" not in run.lines


def test_a_job_cancelled_before_it_is_submitted_is_never_submitted(tmp_path):
    jobs = FakeJobs(["Queued"])
    with pytest.raises(Cancelled, match="before the Azure ML job was submitted"):
        run(jobs, tmp_path, cancelled=lambda: True)
    assert jobs.submitted == [] and jobs.cancels == []


def test_a_few_failed_status_checks_are_retried(tmp_path):
    jobs = FakeJobs([ConnectionError("reset"), "Running", ConnectionError("reset"), ConnectionError("reset"),
                     "Completed"], log=LOG)
    out, lines, _ = run(jobs, tmp_path)
    assert (out / "metadata.json").exists()
    assert sum("could not read the status" in line for line in lines) == 3


def test_losing_the_job_for_good_is_a_failed_run(tmp_path):
    jobs = FakeJobs([ConnectionError("name resolution failed")])
    with pytest.raises(RunFailed, match=rf"lost track of Azure ML job {NAME}: name resolution failed"):
        run(jobs, tmp_path)
    assert jobs.gets == azureml.STATUS_ERRORS_TOLERATED


def test_a_completed_job_without_an_artifact_is_a_failed_run(tmp_path):
    jobs = FakeJobs(["Completed"], artifact=False)
    with pytest.raises(RunFailed, match=rf"{NAME} completed but its output 'model' holds no artifact"):
        run(jobs, tmp_path)
    assert not (tmp_path / "models" / "job-42").exists()


def test_a_refused_submission_is_a_failed_run(tmp_path):
    class Refusing(FakeJobs):
        def create_or_update(self, job):
            raise ValueError("Environment switchboard-training@latest\nnot found")

    with pytest.raises(RunFailed, match="could not submit the Azure ML job: Environment switchboard-training@latest "
                                        "not found"):
        run(Refusing(["Queued"]), tmp_path)


def test_only_the_follower_threads_output_is_captured(capsys):
    lines: list[str] = []
    printed, finish = threading.Event(), threading.Event()

    class Jobs:
        def stream(self, name):
            sys.stdout.write("partial ")
            print("line from the job")
            printed.set()
            finish.wait(10)
            sys.stdout.write("last line without newline")

    follower = azureml._LogFollower(Jobs(), NAME, lines.append)
    follower.start()
    assert printed.wait(10)
    print("the worker's own output")  # another thread, while the follower is routed
    finish.set()
    follower.finish(10)
    assert lines == ["partial line from the job", "last line without newline"]
    assert capsys.readouterr().out == "the worker's own output\n"
    assert not isinstance(sys.stdout, azureml._ThreadStdout)
