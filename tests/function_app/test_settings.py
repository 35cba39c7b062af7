import json

import pytest

from core.errors import SettingsError
from core.settings import ENV_NAMES, Settings
from devstack.stack import Ports, app_settings
from helpers import ROOT


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
