"""The admin site's settings, from the environment (app settings on Azure), validated once.

Without COSMOS_ENDPOINT the site keeps everything in memory: the unit tests' configuration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from switchboard.connections import STORAGE_SETTING, StorageAccount, cosmos_key_problem
from switchboard.errors import SettingsError
from switchboard.settings import read_fields, read_storage


@dataclass(frozen=True)
class Settings:
    secret_key: str
    base_url: str = "http://127.0.0.1:7104"  # https: session cookies are Secure; links in notifications
    cosmos_endpoint: str = ""
    cosmos_key: str = ""  # unset with an Azure account: Entra ID (the site's managed identity)
    cosmos_database: str = "switchboard"
    storage: StorageAccount | None = None  # AzureWebJobsStorage in either form: the queues, the registry
    functions_url: str = ""  # the function app: agent replies and release
    agent_api_token: str = ""
    qna_endpoint: str = ""
    qna_api_key: str = ""
    qna_project: str = ""
    qna_deployment: str = "production"
    nlu_min_confidence: float = 0.5  # what the review queue calls low confidence (the bot's own threshold)
    login_limit: int = 5  # failed logins per account and per address ...
    login_window_seconds: float = 60.0  # ... within this, then 429
    max_upload_bytes: int = 5 * 1024 * 1024
    trusted_proxies: int = 0  # X-Forwarded-For hops to trust (1 behind Container Apps' ingress)
    nlu_registry: str = "azure://models"  # the model registry (in `storage`): the Models page
    training_store: str = "azure://training"  # training jobs, snapshots and data sets

    @property
    def secure_cookies(self) -> bool:
        return urlparse(self.base_url).scheme == "https"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        values["storage"], problems = read_storage(env, STORAGE_SETTING)
        read, problems_of_fields = read_fields(cls, env, ENV_NAMES, lambda name: name in REQUIRED)
        values.update(read)
        problems += problems_of_fields
        if len(values.get("secret_key", "x" * 32)) < 32:
            problems.append("ADMIN_SECRET_KEY must be at least 32 characters (random)")
        if values.get("cosmos_endpoint"):
            problems += filter(None, [cosmos_key_problem(values["cosmos_endpoint"], values.get("cosmos_key", ""))])
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return cls(**values)


REQUIRED = {"secret_key"}
ENV_NAMES = {
    "secret_key": "ADMIN_SECRET_KEY", "base_url": "ADMIN_BASE_URL",
    "cosmos_endpoint": "COSMOS_ENDPOINT", "cosmos_key": "COSMOS_KEY", "cosmos_database": "COSMOS_DATABASE",
    "functions_url": "FUNCTIONS_URL",
    "agent_api_token": "AGENT_API_TOKEN", "qna_endpoint": "QNA_ENDPOINT", "qna_api_key": "QNA_API_KEY",
    "qna_project": "QNA_PROJECT", "qna_deployment": "QNA_DEPLOYMENT", "nlu_min_confidence": "NLU_MIN_CONFIDENCE",
    "login_limit": "ADMIN_LOGIN_LIMIT", "login_window_seconds": "ADMIN_LOGIN_WINDOW_SECONDS",
    "max_upload_bytes": "ADMIN_MAX_UPLOAD_BYTES", "trusted_proxies": "ADMIN_TRUSTED_PROXIES",
    "nlu_registry": "NLU_REGISTRY", "training_store": "TRAINING_STORE",
}
