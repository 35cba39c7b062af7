import json

import pytest

from core.settings import ENV_NAMES, Settings
from devstack.app_loader import local_settings
from devstack.stack import Ports, app_settings
from helpers import ROOT
from switchboard.errors import SettingsError


def sample() -> dict:
    return json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def test_the_sample_lists_every_setting_with_a_working_local_default():
    values = sample()
    assert set(ENV_NAMES.values()) <= set(values)
    Settings.from_env(values)  # valid as it stands
    assert values == app_settings(Ports())  # the defaults `make run` uses


def test_every_problem_is_reported_at_once_naming_the_setting():
    values = {**sample(), "NLU_URL": "localhost:8080", "NLU_MIN_CONFIDENCE": "1.5"}
    del values["COSMOS_KEY"]
    with pytest.raises(SettingsError) as e:
        Settings.from_env(values)
    message = str(e.value)
    assert "COSMOS_KEY is not set" in message
    assert "NLU_URL: not an http(s) URL" in message and "NLU_MIN_CONFIDENCE" in message


def test_the_nlu_services_key_is_required_and_long_enough_and_never_quoted():
    values = {k: v for k, v in sample().items() if k != "NLU_API_KEY"}
    with pytest.raises(SettingsError, match="NLU_API_KEY is not set"):
        Settings.from_env(values)
    with pytest.raises(SettingsError, match="NLU_API_KEY must be at least 32 characters") as e:
        Settings.from_env({**values, "NLU_API_KEY": "short-secret-key"})
    assert "short-secret-key" not in str(e.value)
    key = "k" * 32
    assert Settings.from_env({**values, "NLU_API_KEY": key}).nlu_api_key == key
    assert len(sample()["NLU_API_KEY"]) >= 32 and "development-only" in sample()["NLU_API_KEY"]


def test_the_sample_lets_the_web_chat_page_call_the_host():
    """Core Tools answers a browser only from Host.CORS's origins: the web chat page's is there."""
    cors = json.loads((ROOT / "local.settings.sample.json").read_text())["Host"]["CORS"].split(",")
    assert f"http://localhost:{Ports().webchat}" in cors and f"http://127.0.0.1:{Ports().webchat}" in cors


def test_the_local_host_reads_the_file_core_tools_reads(tmp_path):
    """function_app/local.settings.json (made by `make run` from the sample) feeds both routes."""
    assert local_settings(tmp_path) == ({}, "")
    (tmp_path / "local.settings.json").write_text((ROOT / "local.settings.sample.json").read_text())
    values, cors = local_settings(tmp_path)
    assert values == sample() and "http://localhost:7100" in cors
    (tmp_path / "local.settings.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"local.settings.json: not JSON"):
        local_settings(tmp_path)
