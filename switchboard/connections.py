"""How every deployable signs in to Storage and Cosmos DB.

Storage: a connection string (local, Azurite) or an account with Entra ID (Azure: the app's managed
identity, `az login` on a laptop).

The settings follow the Functions host's conventions for identity-based connections, so one set of
app settings serves the host's queue triggers and our own clients alike. For a setting `PREFIX`
(e.g. `AzureWebJobsStorage`):

- `PREFIX`: a connection string;
- or `PREFIX__accountName` (the service URIs follow from it), or `PREFIX__blobServiceUri` /
  `PREFIX__queueServiceUri` (each https), optionally with `PREFIX__credential=managedidentity` and
  `PREFIX__clientId` (a user-assigned identity's client id).

Cosmos DB: `COSMOS_KEY` set means key auth (the emulator); unset means Entra ID, whose managed
identity is `AZURE_CLIENT_ID`'s (DefaultAzureCredential reads it).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from switchboard.errors import SettingsError

ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
IDENTITY_KEYS = ("accountName", "blobServiceUri", "queueServiceUri", "credential", "clientId")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "cosmosdb")  # emulators: a key, never Entra ID
STORAGE_SETTING = "AzureWebJobsStorage"  # the Functions host's own; every deployable reads it too


@dataclass(frozen=True)
class StorageAccount:
    connection_string: str = ""
    blob_uri: str = ""
    queue_uri: str = ""
    client_id: str = ""  # a user-assigned managed identity; empty: system-assigned or the developer's
    managed_identity: bool = False  # `__credential=managedidentity`: the managed identity only
    setting: str = ""  # the setting it was read from, for messages

    @property
    def uses_identity(self) -> bool:
        return not self.connection_string

    def credential(self) -> Any:
        """The Entra ID credential of an identity-based connection (None with a connection string)."""
        return entra_credential(self.client_id, self.managed_identity) if self.uses_identity else None

    def blob_service(self, **kwargs: Any):
        from azure.storage.blob import BlobServiceClient

        if self.connection_string:
            return BlobServiceClient.from_connection_string(self.connection_string, **kwargs)
        return BlobServiceClient(self._uri("blob"), credential=self.credential(), **kwargs)

    def queue_service(self, **kwargs: Any):
        from azure.storage.queue import QueueServiceClient

        if self.connection_string:
            return QueueServiceClient.from_connection_string(self.connection_string, **kwargs)
        return QueueServiceClient(self._uri("queue"), credential=self.credential(), **kwargs)

    def queue(self, name: str, **kwargs: Any):
        from azure.storage.queue import QueueClient

        if self.connection_string:
            return QueueClient.from_connection_string(self.connection_string, name, **kwargs)
        return QueueClient(self._uri("queue"), name, credential=self.credential(), **kwargs)

    def _uri(self, service: str) -> str:
        uri = self.blob_uri if service == "blob" else self.queue_uri
        if not uri:
            raise SettingsError(f"{self.setting}: no {service} service (set {self.setting}__accountName "
                                   f"or {self.setting}__{service}ServiceUri)")
        return uri


@functools.cache
def entra_credential(client_id: str = "", managed_identity: bool = False) -> Any:
    """One credential per identity and process: each caches its tokens, so every client shares them."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if managed_identity:
        return ManagedIdentityCredential(client_id=client_id or None)
    return DefaultAzureCredential(managed_identity_client_id=client_id or None)


def storage_account(connection: str | StorageAccount) -> StorageAccount:
    """A connection string as a StorageAccount (a StorageAccount as it is)."""
    return connection if isinstance(connection, StorageAccount) else StorageAccount(connection_string=connection)


def storage_from_env(env: Mapping[str, str], *prefixes: str) -> StorageAccount | None:
    """The first of `prefixes` (default: AzureWebJobsStorage) set in either form; None when none is.
    SettingsError names a malformed setting."""
    for prefix in prefixes or (STORAGE_SETTING,):
        account = _read(env, prefix)
        if account is not None:
            return account
    return None


def describe_missing(*prefixes: str) -> str:
    """What to set when no storage setting is: the message settings validation gives."""
    return (f"{' or '.join(prefixes)} is not set (a connection string, or {prefixes[0]}__accountName "
            f"for an account reached with Entra ID)")


def _read(env: Mapping[str, str], prefix: str) -> StorageAccount | None:
    def get(key: str) -> str:
        return (env.get(f"{prefix}__{key}") or "").strip()

    connection = (env.get(prefix) or "").strip()
    if connection:
        return StorageAccount(connection_string=connection, setting=prefix)
    if not any(get(k) for k in IDENTITY_KEYS):
        return None
    name = get("accountName")
    if name and not ACCOUNT_NAME.match(name):
        raise SettingsError(f"{prefix}__accountName: a storage account name is 3 to 24 lowercase "
                               f"letters and digits, got {name!r}")
    uris = {}
    for service in ("blob", "queue"):
        uri = get(f"{service}ServiceUri") or (f"https://{name}.{service}.core.windows.net" if name else "")
        parsed = urlparse(uri)
        if uri and (parsed.scheme != "https" or not parsed.netloc):
            raise SettingsError(f"{prefix}__{service}ServiceUri: Entra ID needs an https URL, got {uri!r}")
        uris[service] = uri.rstrip("/")
    if not any(uris.values()):
        raise SettingsError(f"{prefix}__credential/__clientId are set but not where the account is: "
                               f"set {prefix}__accountName (or __blobServiceUri / __queueServiceUri)")
    credential = get("credential")
    if credential and credential.lower() != "managedidentity":
        raise SettingsError(f"{prefix}__credential: the only value is managedidentity, got {credential!r}")
    return StorageAccount(blob_uri=uris["blob"], queue_uri=uris["queue"], client_id=get("clientId"),
                          managed_identity=bool(credential), setting=prefix)


def cosmos_credential(key: str) -> Any:
    """The Cosmos DB client's credential: the key when one is set, else Entra ID."""
    return key or entra_credential()


def cosmos_key_problem(endpoint: str, key: str) -> str | None:
    """An emulator takes a key, never Entra ID: say so at start-up rather than fail on first use."""
    host = urlparse(endpoint).hostname or ""
    if not key and (host in LOCAL_HOSTS or urlparse(endpoint).scheme == "http"):
        return f"COSMOS_KEY is not set (the emulator at {endpoint} takes its key; Entra ID is for Azure accounts)"
    return None
