"""Settings from the environment (`local.settings.json` locally, app settings on Azure), validated once."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields
from urllib.parse import urlparse

from core.errors import SettingsError


@dataclass(frozen=True)
class Settings:
    storage_connection: str
    cosmos_endpoint: str
    cosmos_key: str
    cosmos_database: str
    nlu_url: str
    nlu_timeout_seconds: float
    nlu_min_confidence: float
    shop_api_url: str
    shop_api_key: str
    qna_endpoint: str
    qna_api_key: str
    qna_project: str
    qna_deployment: str
    qna_min_confidence: float
    sendbird_api_url: str
    sendbird_api_token: str
    sendbird_bot_user_id: str
    agent_api_token: str
    appinsights_connection: str = ""
    sdk_transport: str = "fast"  # the Azure SDK clients' HTTP transport: "fast" or "azure-core"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Read every setting at once and report all problems together, naming each setting."""
        env = dict(os.environ if env is None else env)
        values, problems = {}, []
        for field in fields(cls):
            name = ENV_NAMES[field.name]
            raw = env.get(name, "").strip()
            if not raw:
                if field.name not in OPTIONAL:
                    problems.append(f"{name} is not set")
                continue
            try:
                values[field.name] = parse_value(field.name, field.type, raw)
            except ValueError as e:
                problems.append(f"{name}: {e}")
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return cls(**values)


@functools.cache
def get_settings() -> Settings:
    """The worker's settings, read and validated once (function_app.py calls this at start-up)."""
    return Settings.from_env()


OPTIONAL = {"appinsights_connection", "sdk_transport"}
CHOICES = {"sdk_transport": ("fast", "azure-core")}

ENV_NAMES = {
    "storage_connection": "AzureWebJobsStorage",
    "cosmos_endpoint": "COSMOS_ENDPOINT",
    "cosmos_key": "COSMOS_KEY",
    "cosmos_database": "COSMOS_DATABASE",
    "nlu_url": "NLU_URL",
    "nlu_timeout_seconds": "NLU_TIMEOUT_SECONDS",
    "nlu_min_confidence": "NLU_MIN_CONFIDENCE",
    "shop_api_url": "SHOP_API_URL",
    "shop_api_key": "SHOP_API_KEY",
    "qna_endpoint": "QNA_ENDPOINT",
    "qna_api_key": "QNA_API_KEY",
    "qna_project": "QNA_PROJECT",
    "qna_deployment": "QNA_DEPLOYMENT",
    "qna_min_confidence": "QNA_MIN_CONFIDENCE",
    "sendbird_api_url": "SENDBIRD_API_URL",
    "sendbird_api_token": "SENDBIRD_API_TOKEN",
    "sendbird_bot_user_id": "SENDBIRD_BOT_USER_ID",
    "agent_api_token": "AGENT_API_TOKEN",
    "appinsights_connection": "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "sdk_transport": "AZURE_SDK_TRANSPORT",
}


def parse_value(name: str, kind: str, raw: str):
    """A setting's text as its value, by its type and name (a float is not negative, a confidence is
    at most 1, a URL or endpoint is http(s)); ValueError says what is wrong. The admin site reads its
    settings with it too."""
    if name in CHOICES and raw not in CHOICES[name]:
        raise ValueError(f"choose one of {', '.join(CHOICES[name])}, got {raw!r}")
    if kind == "float":
        value = float(raw)
        if value < 0:
            raise ValueError(f"must not be negative, got {raw}")
        if name.endswith("confidence") and value > 1:
            raise ValueError(f"a confidence is between 0 and 1, got {raw}")
        return value
    if name.endswith(("_url", "_endpoint")):
        parsed = urlparse(raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"not an http(s) URL: {raw!r}")
        return raw.rstrip("/")
    return raw
