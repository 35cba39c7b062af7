"""Both forms of every storage and Cosmos DB setting: a connection string or key (local, emulators),
or an account reached with Entra ID (Azure), as the Functions host's identity conventions spell it.
Every deployable reads them with the one parser, `switchboard.connections`."""
from __future__ import annotations

import json

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from admin_site.settings import Settings as AdminSettings
from core.settings import Settings
from core.storage_queues import StorageQueues
from helpers import ROOT
from nlu.registry import RegistryError, open_store
from switchboard import connections as conn
from switchboard.errors import SettingsError
from training_jobs.worker import WorkerSettings

AZURITE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
           "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;")
ACCOUNT = {"AzureWebJobsStorage__accountName": "sbstore01"}
SETTINGS_MATRIX = [
    {"AzureWebJobsStorage": AZURITE},
    ACCOUNT,
    {**ACCOUNT, "AzureWebJobsStorage__credential": "managedidentity",
     "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-00000000abcd"},
    {"AzureWebJobsStorage__queueServiceUri": "https://sbstore01.queue.core.windows.net/",
     "AzureWebJobsStorage__blobServiceUri": "https://sbstore01.blob.core.windows.net"},
    {"AzureWebJobsStorage__credential": "managedidentity"},  # no account: an error
    {"AzureWebJobsStorage__accountName": "Not_A_Name"},
    {"AzureWebJobsStorage__queueServiceUri": "http://sbstore01.queue.core.windows.net"},  # no TLS
    {**ACCOUNT, "AzureWebJobsStorage__credential": "connectionstring"},
    {},
]


def test_an_account_name_gives_both_service_uris():
    account = conn.storage_from_env(ACCOUNT, "AzureWebJobsStorage")
    assert (account.blob_uri, account.queue_uri) == ("https://sbstore01.blob.core.windows.net",
                                                     "https://sbstore01.queue.core.windows.net")
    assert account.uses_identity


def test_the_first_setting_present_wins_in_either_form():
    env = {"NLU_REGISTRY_CONNECTION_STRING__accountName": "regstore", "AzureWebJobsStorage": AZURITE}
    account = conn.storage_from_env(env, "NLU_REGISTRY_CONNECTION_STRING", "AzureWebJobsStorage")
    assert account.blob_uri == "https://regstore.blob.core.windows.net"


@pytest.mark.parametrize("env, message", [
    ({"AzureWebJobsStorage__credential": "managedidentity"}, "set AzureWebJobsStorage__accountName"),
    ({"AzureWebJobsStorage__accountName": "Not_A_Name"}, "3 to 24 lowercase"),
    ({"AzureWebJobsStorage__queueServiceUri": "http://x.queue.core.windows.net"}, "needs an https URL"),
    ({**ACCOUNT, "AzureWebJobsStorage__credential": "key"}, "the only value is managedidentity"),
])
def test_a_malformed_identity_setting_is_named(env, message):
    with pytest.raises(ValueError, match=message) as e:
        conn.storage_from_env(env)
    assert str(e.value).startswith("AzureWebJobsStorage__")


def test_identity_clients_sign_in_with_entra_id_at_the_account_uri():
    account = conn.StorageAccount(queue_uri="https://sbstore01.queue.core.windows.net", client_id="abcd",
                                  managed_identity=True)
    client = StorageQueues(account)._client("turns-incoming")
    assert client.url == "https://sbstore01.queue.core.windows.net/turns-incoming"
    assert isinstance(client.credential, ManagedIdentityCredential)
    shared = conn.StorageAccount(blob_uri="https://sbstore01.blob.core.windows.net", setting="X")
    blob = shared.blob_service()
    assert blob.url.startswith("https://sbstore01.blob.core.windows.net") and isinstance(blob.credential,
                                                                                          DefaultAzureCredential)
    with pytest.raises(SettingsError, match="X: no queue service"):
        shared.queue("training-requests")


def test_connection_string_clients_use_the_account_key():
    client = StorageQueues(AZURITE)._client("turns-incoming")
    assert client.url == "http://127.0.0.1:10001/devstoreaccount1/turns-incoming"
    assert client.credential.account_name == "devstoreaccount1"


# ---- settings validation takes either form, and names what is missing --------------------------

def _function_env(**changes):
    env = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


def test_function_app_settings_take_an_account_and_no_cosmos_key():
    env = _function_env(AzureWebJobsStorage=None, COSMOS_KEY=None, COSMOS_ENDPOINT="https://sb.documents.azure.com:443/",
                        **{"AzureWebJobsStorage__accountName": "sbstore01",
                           "AzureWebJobsStorage__credential": "managedidentity"})
    settings = Settings.from_env(env)
    assert settings.storage.queue_uri == "https://sbstore01.queue.core.windows.net"
    assert settings.cosmos_key == "" and isinstance(conn.cosmos_credential(settings.cosmos_key),
                                                    DefaultAzureCredential)


def test_function_app_settings_name_the_missing_storage_in_both_forms():
    with pytest.raises(Exception, match=r"AzureWebJobsStorage is not set \(a connection string, or "
                                        r"AzureWebJobsStorage__accountName"):
        Settings.from_env(_function_env(AzureWebJobsStorage=None))


def test_an_emulator_without_its_key_is_refused_at_start():
    with pytest.raises(Exception, match="COSMOS_KEY is not set .the emulator at http://127.0.0.1:8081"):
        Settings.from_env(_function_env(COSMOS_KEY=None, COSMOS_ENDPOINT="http://127.0.0.1:8081"))
    assert Settings.from_env(_function_env()).cosmos_key  # the emulator with its key


def test_admin_site_settings_take_either_form():
    base = {"ADMIN_SECRET_KEY": "s" * 40, "COSMOS_ENDPOINT": "https://sb.documents.azure.com:443/"}
    config = AdminSettings.from_env({**base, **ACCOUNT})
    assert config.storage.queue_uri == "https://sbstore01.queue.core.windows.net" and config.cosmos_key == ""
    assert AdminSettings.from_env({**base, "AzureWebJobsStorage": AZURITE}).storage.connection_string == AZURITE
    with pytest.raises(SettingsError, match="AzureWebJobsStorage__accountName: a storage account name"):
        AdminSettings.from_env({**base, "AzureWebJobsStorage__accountName": "NO"})
    with pytest.raises(SettingsError, match="COSMOS_KEY is not set"):
        AdminSettings.from_env({**base, "COSMOS_ENDPOINT": "http://localhost:8081"})


def test_training_worker_settings_take_either_form():
    assert WorkerSettings.from_env(ACCOUNT).storage.blob_uri == "https://sbstore01.blob.core.windows.net"
    assert WorkerSettings.from_env({"AZURE_STORAGE_CONNECTION_STRING": AZURITE}).storage.connection_string == AZURITE
    with pytest.raises(ValueError, match="AzureWebJobsStorage__credential"):
        WorkerSettings.from_env({**ACCOUNT, "AzureWebJobsStorage__credential": "sas"})


def test_the_registry_names_both_forms_when_neither_is_set(monkeypatch):
    for name in ("NLU_REGISTRY_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RegistryError, match="azure://models: NLU_REGISTRY_CONNECTION_STRING or .* is not set "
                                            r"\(a connection string, or NLU_REGISTRY_CONNECTION_STRING__accountName"):
        open_store("azure://models")
