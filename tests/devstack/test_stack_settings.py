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


def test_each_stack_makes_its_own_nlu_key_and_gives_it_to_both_ends_through_the_environment(tmp_path):
    from devstack.stack import LOCAL_NLU_API_KEY, app_settings

    assert app_settings(Ports())["NLU_API_KEY"] == LOCAL_NLU_API_KEY  # the sample's, for Core Tools
    # local.settings.json's value (functions_env) is replaced: the NLU service never accepts it here
    stack = Stack(tmp_path / "a", Ports.free(), functions_env={"NLU_API_KEY": LOCAL_NLU_API_KEY})
    other = Stack(tmp_path / "b", Ports.free())
    key = stack.nlu_api_key
    assert len(key) >= 32 and key != other.nlu_api_key and key != LOCAL_NLU_API_KEY
    assert stack.settings["NLU_API_KEY"] == key  # the functions host's environment
    command, env, _ = stack._command("nlu")
    assert env["NLU_API_KEYS"] == key and key not in " ".join(command)
    assert stack.nlu_headers() == {"Authorization": f"Bearer {key}"}


def test_the_key_file_is_readable_by_its_owner_only(tmp_path):
    stack = Stack(tmp_path, Ports.free())
    stack.nlu_key_file.write_text("an earlier stack's key\n")
    stack.nlu_key_file.chmod(0o644)
    stack.write_nlu_key()
    assert stack.nlu_key_file.read_text() == stack.nlu_api_key + "\n"
    assert stack.nlu_key_file.stat().st_mode & 0o777 == 0o600


def test_functions_env_reaches_the_functions_host_over_the_app_settings(tmp_path):
    """bench/cost.py's hook: an Application Insights connection string (app_settings' is empty) and
    the exporter's settings, in the environment the functions host starts with."""
    extra = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x;IngestionEndpoint=http://127.0.0.1:1/",
             "OTEL_BSP_SCHEDULE_DELAY": "500"}
    stack = Stack(tmp_path, Ports.free(), functions_env=extra)
    command, env, _ = stack._command("functions")
    assert "devstack.functions_host" in command
    assert {k: env[k] for k in extra} == extra
    assert Stack(tmp_path, Ports.free())._command("functions")[1]["APPLICATIONINSIGHTS_CONNECTION_STRING"] == ""
