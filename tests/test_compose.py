"""docker-compose.yml cannot run here (no Docker engine); validate it as far as this machine allows."""
import shutil
import subprocess

import yaml

from core.settings import ENV_NAMES
from helpers import ROOT


def compose_config() -> dict:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed (.ci/run installs Debian's package)"
    checked = subprocess.run([binary, "config"], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    return yaml.safe_load(checked.stdout)


def test_the_compose_file_is_valid_and_describes_the_whole_stack():
    services = compose_config()["services"]
    assert {"azurite", "cosmosdb", "trainer", "inference", "nlu", "functions", "standins", "admin"} <= set(services)
    for service in services.values():
        if "build" in service:
            assert (ROOT / service["build"]["dockerfile"]).exists()
    assert "ports" not in services["inference"], "replicas behind nginx publish no port (--scale)"
    assert services["functions"]["build"]["dockerfile"] == "function_app/Dockerfile"
    base = (ROOT / "function_app" / "Dockerfile").read_text()
    assert "FROM mcr.microsoft.com/azure-functions/python:4-python3.11" in base


def test_the_function_app_gets_every_setting_in_compose():
    environment = compose_config()["services"]["functions"]["environment"]
    assert set(ENV_NAMES.values()) <= set(environment)


def test_the_admin_site_gets_every_setting_it_reads_and_runs_as_a_non_root_user_with_a_health_check():
    from admin_site.config import ENV_NAMES as ADMIN_SETTINGS, Config

    environment = compose_config()["services"]["admin"]["environment"]
    Config.from_env(environment)  # valid as it stands
    assert {"ADMIN_SECRET_KEY", "COSMOS_ENDPOINT", "AzureWebJobsStorage", "FUNCTIONS_URL", "QNA_ENDPOINT"} <= set(environment)
    assert set(environment) <= set(ADMIN_SETTINGS.values())
    image = (ROOT / "admin_site" / "Dockerfile").read_text()
    assert "\nUSER admin\n" in image and "HEALTHCHECK" in image


def test_the_training_worker_is_a_service_that_takes_the_admin_sites_requests():
    from training_jobs.worker import ENV, WorkerSettings

    services = compose_config()["services"]
    worker = services["training-worker"]
    assert worker["command"] == ["worker"] and worker["build"]["dockerfile"] == "training_jobs/Dockerfile"
    settings = WorkerSettings.from_env(worker["environment"])  # valid as it stands
    assert set(worker["environment"]) <= {setting for setting, _ in ENV.values()}
    admin = services["admin"]["environment"]
    # the worker reads the requests, stores and registry the admin site writes
    assert (settings.store, settings.registry) == (admin["TRAINING_STORE"], admin["NLU_REGISTRY"])
    assert settings.storage_connection == admin["AzureWebJobsStorage"]
    assert "HOROVOD_WITH_GLOO=1" in (ROOT / "training_jobs" / "Dockerfile").read_text()  # the local back-end
