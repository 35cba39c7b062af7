"""Identity-based Storage connections against a real server: Azurite over HTTPS with OAuth ("basic":
it checks each bearer token's issuer, audience and lifetime, as Storage does). The settings are the
ones the template sets on Azure (`AzureWebJobsStorage__queueServiceUri` / `__blobServiceUri`, no
key anywhere); only the token comes from a test credential instead of a managed identity."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from devstack.stack import free_port
from helpers import ROOT, stop_process, wait_for_port
from nlu.registry import open_registry
from nlu.training import StorageRequestQueue
from switchboard import connections

sys.path.insert(0, str(ROOT / "function_app"))
from core.settings import Settings  # noqa: E402
from core.storage_queues import StorageQueues  # noqa: E402


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class TokenCredential:
    """What a managed identity would hand the SDK: a bearer token for Storage, and the scopes asked."""

    def __init__(self, audience: str = "https://storage.azure.com") -> None:
        self.audience, self.scopes = audience, []

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        self.scopes.extend(scopes)
        now = int(time.time())
        token = _jwt({"aud": self.audience, "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
                      "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
                      "oid": "00000000-0000-0000-0000-00000000beef"})
        return AccessToken(token, now + 3600)


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory):
    """(queue URI, blob URI) of an Azurite that takes bearer tokens over HTTPS (self-signed)."""
    work = tmp_path_factory.mktemp("azurite-oauth")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    blob, queue, table = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [str(ROOT / "node_modules" / ".bin" / "azurite"), "--blobHost", "127.0.0.1", "--blobPort", str(blob),
         "--queueHost", "127.0.0.1", "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table),
         "--location", str(work), "--skipApiVersionCheck", "--silent", "--loose", "--disableTelemetry",
         "--oauth", "basic", "--cert", str(cert), "--key", str(key)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(blob)
        wait_for_port(queue)
        yield {"cert": str(cert), "queue": f"https://127.0.0.1:{queue}/devstoreaccount1",
               "blob": f"https://127.0.0.1:{blob}/devstoreaccount1"}
    finally:
        stop_process(proc)


@pytest.fixture
def signed_in(oauth_azurite, monkeypatch):
    """The settings Azure has (no key), with the test's credential standing in for the identity."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", oauth_azurite["cert"])
    credential = TokenCredential()
    monkeypatch.setattr(connections.StorageAccount, "credential", lambda self: credential)
    env = {"AzureWebJobsStorage__queueServiceUri": oauth_azurite["queue"],
           "AzureWebJobsStorage__blobServiceUri": oauth_azurite["blob"],
           "AzureWebJobsStorage__credential": "managedidentity",
           "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-00000000abcd"}
    return env, credential


def test_the_function_app_queues_a_turn_with_its_identity(signed_in):
    env, credential = signed_in
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    del sample["AzureWebJobsStorage"]
    settings = Settings.from_env({**sample, **env})
    for transport in ("fast", "azure-core"):
        StorageQueues(settings.storage, transport).send("turns-incoming", f"a turn over {transport}")
    account = connections.storage_from_env(env, "AzureWebJobsStorage")
    texts = [base64.b64decode(m.content).decode() for m in account.queue("turns-incoming").receive_messages()]
    assert sorted(texts) == ["a turn over azure-core", "a turn over fast"]
    assert credential.scopes and all(s == "https://storage.azure.com/.default" for s in credential.scopes)


def test_the_registry_and_the_training_queue_use_the_identity(signed_in, tmp_path):
    env, _ = signed_in
    account = connections.storage_from_env(env, "AzureWebJobsStorage")
    registry = open_registry("azure://models", account)
    registry.store.put_bytes("hello.txt", b"signed in")
    assert list(registry.store.list("hello")) == ["hello.txt"]
    queue = StorageRequestQueue(account)
    queue.send({"job": "j1"})
    assert queue.receive(visibility_s=5).content == {"job": "j1"}


def test_the_nlu_service_finds_the_registry_from_the_identity_settings(signed_in, monkeypatch):
    """The NLU service names no connection: the registry reads the environment, in either form."""
    env, _ = signed_in
    for name in ("NLU_REGISTRY_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    open_registry("azure://models").store.put_bytes("from-env.txt", b"found")
    account = connections.storage_from_env(env, "AzureWebJobsStorage")
    assert account.blob_service().get_container_client("models").download_blob("from-env.txt").readall() == b"found"


def test_a_token_for_another_audience_is_refused(oauth_azurite, monkeypatch):
    """The identity really is what Azurite checks: a token meant for another service fails."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", oauth_azurite["cert"])
    monkeypatch.setattr(connections.StorageAccount, "credential",
                        lambda self: TokenCredential(audience="https://vault.azure.net"))
    account = connections.StorageAccount(queue_uri=oauth_azurite["queue"], setting="AzureWebJobsStorage")
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as e:
        account.queue("turns-incoming").create_queue()
    assert "Invalid token audience" in str(e.value)

