"""The local stack's training worker settings: 2 Horovod processes unless the launcher's
environment says otherwise (`TRAINING_PROCESSES=1 make run`, faster on 2 cores)."""
from devstack.stack import Ports, Stack
from training_jobs.worker import WorkerSettings


def test_the_stacks_worker_runs_two_processes_unless_told_otherwise(tmp_path, monkeypatch):
    stack = Stack(tmp_path, Ports.free())
    monkeypatch.delenv("TRAINING_PROCESSES", raising=False)
    assert WorkerSettings.from_env(stack.trainer_settings()).processes == 2
    monkeypatch.setenv("TRAINING_PROCESSES", "1")
    assert WorkerSettings.from_env(stack.trainer_settings()).processes == 1
