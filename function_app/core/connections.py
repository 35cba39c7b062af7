"""How the function app (and the admin site, which carries `core`) signs in to Storage queues and
Cosmos DB: a connection string or key (local, the emulators), or Entra ID (Azure: the managed identity).

Storage follows the Functions host's conventions for identity-based connections, so the host's queue
triggers and our own queue writes read the same app settings: `AzureWebJobsStorage` (a connection
string), or `AzureWebJobsStorage__accountName` / `__queueServiceUri`, with `__credential=managedidentity`
and `__clientId` for a user-assigned identity. This is the function app's copy of
`nlu/connections.py`'s parser (the function app is deployed without the `nlu` package), for queues
only; `tests/function_app/test_connections.py` runs both over the same settings.

Cosmos DB: `COSMOS_KEY` set means key auth (the emulator); unset means `DefaultAzureCredential`,
whose managed identity is `AZURE_CLIENT_ID`'s.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

IDENTITY_KEYS = ("accountName", "queueServiceUri", "credential", "clientId")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "cosmosdb")  # emulators: a key, never Entra ID


@dataclass(frozen=True)
class QueueAccount:
    connection_string: str = ""
    queue_uri: str = ""
    client_id: str = ""
    managed_identity: bool = False

    def queue(self, name: str, **kwargs: Any):
        from azure.storage.queue import QueueClient

        if self.connection_string:
            return QueueClient.from_connection_string(self.connection_string, name, **kwargs)
        return QueueClient(self.queue_uri, name, credential=self.credential(), **kwargs)

    def queue_service(self, **kwargs: Any):
        from azure.storage.queue import QueueServiceClient

        if self.connection_string:
            return QueueServiceClient.from_connection_string(self.connection_string, **kwargs)
        return QueueServiceClient(self.queue_uri, credential=self.credential(), **kwargs)

    def credential(self) -> Any:
        return entra_credential(self.client_id, self.managed_identity)


def as_queue_account(connection: "str | QueueAccount") -> QueueAccount:
    return connection if isinstance(connection, QueueAccount) else QueueAccount(connection_string=connection)


def queue_account_from_env(env: Mapping[str, str], prefix: str = "AzureWebJobsStorage") -> QueueAccount | None:
    """The account in either form; None when neither is set; ValueError names a malformed setting."""
    def get(key: str) -> str:
        return (env.get(f"{prefix}__{key}") or "").strip()

    if (env.get(prefix) or "").strip():
        return QueueAccount(connection_string=env[prefix].strip())
    if not any(get(k) for k in IDENTITY_KEYS):
        return None
    name, uri = get("accountName"), get("queueServiceUri")
    if name and not re.match(r"^[a-z0-9]{3,24}$", name):
        raise ValueError(f"{prefix}__accountName: a storage account name is 3 to 24 lowercase letters "
                         f"and digits, got {name!r}")
    uri = uri or (f"https://{name}.queue.core.windows.net" if name else "")
    if not uri:
        raise ValueError(f"{prefix}__credential/__clientId are set but not where the account is: "
                         f"set {prefix}__accountName (or __queueServiceUri)")
    if urlparse(uri).scheme != "https" or not urlparse(uri).netloc:
        raise ValueError(f"{prefix}__queueServiceUri: Entra ID needs an https URL, got {uri!r}")
    credential = get("credential")
    if credential and credential.lower() != "managedidentity":
        raise ValueError(f"{prefix}__credential: the only value is managedidentity, got {credential!r}")
    return QueueAccount(queue_uri=uri.rstrip("/"), client_id=get("clientId"), managed_identity=bool(credential))


@functools.cache
def entra_credential(client_id: str = "", managed_identity: bool = False) -> Any:
    """One credential per identity and process: each caches its tokens, so every client shares them."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if managed_identity:
        return ManagedIdentityCredential(client_id=client_id or None)
    return DefaultAzureCredential(managed_identity_client_id=client_id or None)


def cosmos_credential(key: str) -> Any:
    """The Cosmos DB client's credential: the key when one is set, else Entra ID."""
    return key or entra_credential()


def cosmos_key_problem(endpoint: str, key: str) -> str | None:
    """An emulator takes a key, never Entra ID: say so at start-up rather than fail on first use."""
    host = urlparse(endpoint).hostname or ""
    if not key and (host in LOCAL_HOSTS or urlparse(endpoint).scheme == "http"):
        return f"COSMOS_KEY is not set (the emulator at {endpoint} takes its key; Entra ID is for Azure accounts)"
    return None
