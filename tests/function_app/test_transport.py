"""The Azure SDK clients' HTTP transport, against a real local HTTP and HTTPS server (its certificate
made here) and the Cosmos DB stand-in over HTTPS."""
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpRequest, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.cosmos import CosmosClient, PartitionKey, exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import core.transport as transport_module
from core.transport import TRANSPORTS, HttpClientTransport, azure_transport
from devstack.stack import COSMOS_KEY

pytestmark = pytest.mark.stack  # nearly every test talks to a real HTTP(S) server on a socket

ROOT = Path(__file__).resolve().parents[2]


class Server(BaseHTTPRequestHandler):
    """Echoes the request as JSON. `?chunked=1` answers chunked; `?drop=1` closes the connection
    after answering without saying so (as a server ending an idle keep-alive connection does);
    `?slow=S` waits S seconds first."""
    protocol_version = "HTTP/1.1"
    ports: list[int] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.ports.append(self.client_address[1])
        query = dict(p.split("=") for p in self.path.partition("?")[2].split("&") if p)
        time.sleep(float(query.get("slow", 0)))
        data = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                           "x-ms-test": self.headers.get("x-ms-test")}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ms-request-charge", "1.0")
        if query.get("chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (data[:10], data[10:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        self.close_connection = bool(query.get("drop"))

    do_GET = do_POST = _answer

    def handle(self):
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):  # a client gave up
            super().handle()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def server(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """HTTPS with a `tls` context: the handshake happens as a connection is accepted, and one that
    fails (a client that does not trust the certificate) is dropped there."""
    Server.ports = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    if tls:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_share_one_kept_alive_connection_and_answers_arrive_whole():
    transport = HttpClientTransport()
    with server() as url:
        post = HttpRequest("POST", f"{url}/dbs/switchboard/docs", headers={"x-ms-test": "yes"})
        post.set_json_body({"id": "c1"})
        created = transport.send(post)
        chunked = transport.send(HttpRequest("GET", f"{url}/dbs/switchboard/docs/c1?chunked=1"))
    assert created.status_code == 201 and created.headers["X-MS-Request-Charge"] == "1.0"
    assert json.loads(created.body()) == {"method": "POST", "path": "/dbs/switchboard/docs",
                                          "body": '{"id": "c1"}', "x-ms-test": "yes"}
    assert json.loads(chunked.text())["path"] == "/dbs/switchboard/docs/c1?chunked=1"
    assert b"".join(chunked.stream_download(None)) == chunked.body()
    assert len(set(Server.ports)) == 1


def test_a_connection_the_server_closed_meanwhile_is_replaced_and_the_request_sent_again():
    transport = HttpClientTransport()
    with server() as url:
        assert transport.send(HttpRequest("GET", f"{url}/first?drop=1")).status_code == 200
        time.sleep(0.1)  # the server has closed the connection the transport kept
        again = transport.send(HttpRequest("GET", f"{url}/second"))
    assert json.loads(again.body())["path"] == "/second"
    assert len(set(Server.ports)) == 2


def test_no_server_is_a_request_error_and_no_answer_a_response_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ServiceRequestError, match="could not connect"):
        HttpClientTransport().send(HttpRequest("GET", f"http://127.0.0.1:{closed_port}/"))
    with server() as url, pytest.raises(ServiceResponseTimeoutError):
        HttpClientTransport().send(HttpRequest("GET", f"{url}/?slow=1"), read_timeout=0.2)


def test_requests_it_does_not_frame_go_through_requests(monkeypatch):
    with server() as url:
        answer = HttpClientTransport().send(RestHttpRequest("GET", f"{url}/rest"))
        assert answer.status_code == 200 and answer.json()["path"] == "/rest"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert isinstance(azure_transport(), RequestsTransport)


# ---- over TLS --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tls:
    ca: str  # the self-signed certificate, also the CA bundle that trusts it
    key: str
    combined: str  # certificate and key in one file (the other form of `connection_cert`)

    def server(self, require_client_certificate: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca, self.key)
        if require_client_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context


@pytest.fixture
def tls(tmp_path) -> Tls:
    """A self-signed certificate for 127.0.0.1 and localhost, good for a day, for server and client."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard-test")])
    now = datetime.datetime.now(datetime.UTC)
    usage = dict.fromkeys(["content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                           "crl_sign", "encipher_only", "decipher_only"], False)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, **usage), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256()))
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "combined.pem").write_bytes(cert_pem + key_pem)
    return Tls(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), str(tmp_path / "combined.pem"))


@pytest.fixture
def no_ca_bundle_variables(monkeypatch) -> None:
    """Both transports read REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE (set on some machines) as requests
    does; without them, `connection_verify=True` is certifi's bundle."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def get(transport, url: str, **kwargs):
    return transport.send(HttpRequest("GET", url), **kwargs)


def test_requests_share_one_kept_alive_tls_connection_and_answers_arrive_whole(tls):
    transport = HttpClientTransport()
    with server(tls.server()) as url:
        post = HttpRequest("POST", f"{url}/dbs/switchboard/docs", headers={"x-ms-test": "yes"})
        post.set_json_body({"id": "c1", "text": "x" * 50_000})
        created = transport.send(post, connection_verify=tls.ca)
        chunked = transport.send(HttpRequest("GET", f"{url}/dbs/switchboard/docs/c1?chunked=1"),
                                 connection_verify=tls.ca)
        plain = [get(transport, f"{url}/dbs/switchboard/docs/c{i}", connection_verify=tls.ca)
                 for i in range(5)]
    assert created.status_code == 201
    assert json.loads(json.loads(created.body())["body"]) == {"id": "c1", "text": "x" * 50_000}
    assert json.loads(chunked.text())["path"] == "/dbs/switchboard/docs/c1?chunked=1"
    assert b"".join(chunked.stream_download(None)) == chunked.body()
    assert [json.loads(a.body())["path"] for a in plain] == [f"/dbs/switchboard/docs/c{i}" for i in range(5)]
    assert len(Server.ports) == 7 and len(set(Server.ports)) == 1


BOTH = pytest.mark.parametrize("make", [HttpClientTransport, lambda: azure_transport("azure-core")],
                               ids=["fast", "azure-core"])
INSECURE = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@BOTH
@INSECURE
@pytest.mark.usefixtures("no_ca_bundle_variables")
def test_certificate_verification_as_the_sdk_configures_it(tls, make):
    """The same answers from both transports: the CA bundle given trusts the server, the default one
    (certifi's) does not, and no verification takes any certificate."""
    with server(tls.server()) as url:
        with make() as transport:
            assert get(transport, f"{url}/ca", connection_verify=tls.ca).status_code == 200
        with make() as transport, pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            get(transport, f"{url}/default", connection_verify=True)
        with make() as transport, pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            get(transport, f"{url}/unsaid")
        with make() as transport:
            assert get(transport, f"{url}/off", connection_verify=False).status_code == 200
    assert len(Server.ports) == 2


@BOTH
def test_the_ca_bundle_variable_of_requests_is_the_default_bundle(tls, make, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca)
    with server(tls.server()) as url, make() as transport:
        assert get(transport, f"{url}/env", connection_verify=True).status_code == 200


@BOTH
def test_a_client_certificate_in_either_form_of_connection_cert(tls, make):
    """The Cosmos DB client sends (certificate, key), (None, None) for none; requests also takes one file."""
    with server(tls.server(require_client_certificate=True)) as url:
        for cert in ((tls.ca, tls.key), tls.combined):
            with make() as transport:
                answer = get(transport, f"{url}/mtls", connection_verify=tls.ca, connection_cert=cert)
                assert answer.status_code == 200
        with make() as transport, pytest.raises((ServiceRequestError, ServiceResponseError)):
            get(transport, f"{url}/mtls", connection_verify=tls.ca, connection_cert=(None, None))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tls_connection_the_server_closed_meanwhile_is_replaced_and_the_request_sent_again(tls, method):
    """A body over 2000 bytes (an upsert's) goes out after the headers: the server has reset the
    connection by then, and TLS reports it as an EOF (plain TCP: a broken pipe)."""
    transport = HttpClientTransport()
    with server(tls.server()) as url:
        assert get(transport, f"{url}/first?drop=1", connection_verify=tls.ca).status_code == 200
        time.sleep(0.1)  # the server has closed the connection the transport kept
        request = HttpRequest(method, f"{url}/second")
        if method == "POST":
            request.set_json_body({"id": "c1", "text": "x" * 4000})
        again = transport.send(request, connection_verify=tls.ca)
    assert json.loads(again.body())["path"] == "/second"
    assert len(set(Server.ports)) == 2


def test_over_tls_no_server_is_a_request_error_and_no_answer_a_timeout(tls):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ServiceRequestError, match="could not connect"):
        get(HttpClientTransport(), f"https://127.0.0.1:{closed_port}/", connection_verify=tls.ca)
    with server(tls.server()) as url, pytest.raises(ServiceResponseTimeoutError):
        get(HttpClientTransport(), f"{url}/?slow=1", connection_verify=tls.ca, read_timeout=0.2)
    with socket.socket() as mute:  # takes the connection, never answers the TLS handshake
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        with pytest.raises(ServiceRequestTimeoutError):
            get(HttpClientTransport(), f"https://127.0.0.1:{mute.getsockname()[1]}/",
                connection_verify=tls.ca, connection_timeout=0.2)


def test_threads_connecting_at_once_share_one_tls_context_built_once(monkeypatch):
    built: list[int] = []
    create = ssl.create_default_context

    def slow_create(*args, **kwargs) -> ssl.SSLContext:
        built.append(threading.get_ident())
        time.sleep(0.1)  # every other thread asks meanwhile
        return create(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", slow_create)
    monkeypatch.setattr(transport_module, "_contexts", {})
    barrier, contexts = threading.Barrier(16), []

    def connect() -> None:
        barrier.wait()
        contexts.append(transport_module._tls_context(False, None))

    threads = [threading.Thread(target=connect) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(contexts) == 16 and len({id(c) for c in contexts}) == 1
    assert len(built) == 1


def test_the_operator_chooses_azure_cores_own_transport(monkeypatch):
    for variable in transport_module.PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert TRANSPORTS == ("fast", "azure-core")
    assert isinstance(azure_transport(), HttpClientTransport)
    assert isinstance(azure_transport("fast"), HttpClientTransport)
    assert isinstance(azure_transport("azure-core"), RequestsTransport)
    with pytest.raises(ValueError, match="'nope'.*fast, azure-core"):
        azure_transport("nope")


# ---- the Cosmos DB client over TLS -------------------------------------------------------------------
@pytest.fixture(scope="module")
def cosmos_tls() -> Iterator[str]:
    """The Cosmos DB stand-in (devstack/cosmos_server.js) over HTTPS, its certificate self-signed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["node", "devstack/cosmos_server.js", str(port), "127.0.0.1", "--tls"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Cosmos DB stand-in is not on port {port} (exit {proc.poll()})") from None
                time.sleep(0.05)
        yield f"https://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_cosmos_db_client_over_tls_on_kept_alive_connections(cosmos_tls, monkeypatch):
    connects = []
    connect = HttpClientTransport._connect
    monkeypatch.setattr(HttpClientTransport, "_connect",
                        staticmethod(lambda key, timeout: connects.append(key) or connect(key, timeout)))
    monkeypatch.setattr(transport_module, "IDLE_SECONDS", 60)  # a slow machine's pauses keep them too
    client = CosmosClient(cosmos_tls, COSMOS_KEY, enable_endpoint_discovery=False, connection_verify=False,
                          transport=HttpClientTransport())
    container = (client.create_database_if_not_exists(f"transport-{uuid.uuid4().hex[:8]}")
                 .create_container_if_not_exists("conversations", PartitionKey("/id")))
    doc = {"id": "c1", "channel": "webchat", "turns": [{"text": "héllo", "intent": "greet"}] * 20}
    for n in range(5):
        container.upsert_item({**doc, "n": n})
        stored = container.read_item("c1", partition_key="c1")
        assert {k: v for k, v in stored.items() if not k.startswith("_")} == {**doc, "n": n}
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("nobody", partition_key="nobody")
    # 16 requests and more; the client's health check, from a thread of its own, may need a second one
    assert 1 <= len(connects) <= 2 and set(connects) == {("https", cosmos_tls[8:-1], (False, None))}
