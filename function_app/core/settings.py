"""Settings from the environment (`local.settings.json` locally, app settings on Azure), validated once."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from switchboard.connections import (
    STORAGE_SETTING,
    StorageAccount,
    cosmos_key_problem,
)
from switchboard.errors import SettingsError
from switchboard.settings import read_fields, read_storage

LOCAL_WEBCHAT_TOKEN_SECRET = "local-webchat-token-secret-not-for-azure"
MIN_NLU_API_KEY_CHARS = 32  # what the NLU service accepts (inference_container/app.py)


@dataclass(frozen=True)
class Settings:
    storage: StorageAccount  # AzureWebJobsStorage: a connection string, or __accountName and Entra ID
    cosmos_endpoint: str
    cosmos_database: str
    nlu_url: str
    nlu_api_key: str  # sent as `Authorization: Bearer` to the NLU service (from Key Vault on Azure)
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
    cosmos_key: str = ""  # unset: Entra ID (DefaultAzureCredential)
    appinsights_connection: str = ""
    sdk_transport: str = "fast"  # the Azure SDK clients' HTTP transport: "fast" or "azure-core"
    # The web chat channel (core.webchat): the secret its conversation tokens are made with (required
    # on Azure), and its rate limits, each a count per window (0: no limit).
    webchat_token_secret: str = LOCAL_WEBCHAT_TOKEN_SECRET
    webchat_messages_per_conversation: int = 20
    webchat_messages_per_address: int = 60
    webchat_conversations_per_address: int = 10
    webchat_limit_window_seconds: float = 60.0
    webchat_trusted_proxies: int = 1  # X-Forwarded-For hops to trust (1: Azure's front end)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read every setting at once and report all problems together, naming each setting."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        values["storage"], problems = read_storage(env, STORAGE_SETTING, required=True)
        read, problems_of_fields = read_fields(cls, env, ENV_NAMES, lambda name: name not in OPTIONAL, CHOICES)
        values.update(read)
        problems += problems_of_fields
        problems += _webchat_secret_problems(env, values.get("webchat_token_secret"))
        problems += _nlu_api_key_problems(values.get("nlu_api_key"))
        if values.get("cosmos_endpoint"):
            problems += filter(None, [cosmos_key_problem(values["cosmos_endpoint"], values.get("cosmos_key", ""))])
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return cls(**values)


@functools.cache
def get_settings() -> Settings:
    """The worker's settings, read and validated once (function_app.py calls this at start-up)."""
    return Settings.from_env()


def _webchat_secret_problems(env: dict[str, str], secret: str | None) -> list[str]:
    """The local default is public, so on Azure (App Service sets WEBSITE_INSTANCE_ID) a secret of
    one's own must be set; any secret set must be long enough to resist guessing."""
    if bool(env.get("WEBSITE_INSTANCE_ID", "").strip()) and secret in (None, LOCAL_WEBCHAT_TOKEN_SECRET):
        return ["WEBCHAT_TOKEN_SECRET must be set on Azure, to 32 or more random characters"]
    if secret is not None and len(secret) < 32:
        return ["WEBCHAT_TOKEN_SECRET must be at least 32 characters (random)"]
    return []


def _nlu_api_key_problems(key: str | None) -> list[str]:
    """A key the NLU service could accept: 32 or more characters. The problem names the setting, never
    the key. (Not set at all: read_fields reported it.)"""
    if key is not None and len(key) < MIN_NLU_API_KEY_CHARS:
        return [f"NLU_API_KEY must be at least {MIN_NLU_API_KEY_CHARS} characters (the NLU service refuses "
                "shorter keys)"]
    return []


OPTIONAL = {"cosmos_key", "appinsights_connection", "sdk_transport", "webchat_token_secret",
            "webchat_messages_per_conversation", "webchat_messages_per_address", "webchat_conversations_per_address",
            "webchat_limit_window_seconds",
            "webchat_trusted_proxies"}
CHOICES = {"sdk_transport": ("fast", "azure-core")}

ENV_NAMES = {
    "cosmos_endpoint": "COSMOS_ENDPOINT",
    "cosmos_key": "COSMOS_KEY",
    "cosmos_database": "COSMOS_DATABASE",
    "nlu_url": "NLU_URL",
    "nlu_api_key": "NLU_API_KEY",
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
    "webchat_token_secret": "WEBCHAT_TOKEN_SECRET",
    "webchat_messages_per_conversation": "WEBCHAT_MESSAGES_PER_CONVERSATION",
    "webchat_messages_per_address": "WEBCHAT_MESSAGES_PER_ADDRESS",
    "webchat_conversations_per_address": "WEBCHAT_CONVERSATIONS_PER_ADDRESS",
    "webchat_limit_window_seconds": "WEBCHAT_LIMIT_WINDOW_SECONDS",
    "webchat_trusted_proxies": "WEBCHAT_TRUSTED_PROXIES",
}
