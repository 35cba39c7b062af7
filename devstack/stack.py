"""The whole Switchboard stack as real processes on this machine, for `make run`, the integration
tests and the benchmarks: Azurite, the Cosmos DB stand-in, the NLU service (following a Blob
Storage model registry), the stand-ins of the outside SaaS, and the local functions host.

Every process logs to `<var>/logs/<name>.log`; `stop_all()` ends them all. Each runs in a process
group of its own (so a kill reaches its children too); a watchdog (devstack/watchdog.py) stops them
when the caller dies without calling `stop_all()`, even by SIGKILL.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / "node_modules" / ".bin"
DEMO_DATA = ROOT / "training_jobs" / "data" / "demo.yml"
REGISTRY = "azure://models"
TRAINING_STORE = "azure://training"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# local.settings.sample.json's NLU key: public, so a Stack never uses it (it makes a key of its own)
LOCAL_NLU_API_KEY = "local-nlu-api-key-for-development-only-not-for-azure"
NLU_KEY_FILE = "nlu-api-key"  # in the var folder, mode 0600: the key of the running stack's NLU service
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def free_port() -> int:
    """A port nothing listens on now (the tests' and benchmarks' single servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    blob: int = 10000
    queue: int = 10001
    table: int = 10002
    cosmos: int = 8081
    nlu: int = 8080
    functions: int = 7071
    webchat: int = 7100
    shop: int = 7101
    qna: int = 7102
    sendbird: int = 7103
    admin: int = 7104

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Ports:
        """The defaults, each moved by its setting (`DEVSTACK_ADMIN_PORT=7204 make run`)."""
        return cls(**{f.name: int(environ[port_setting(f.name)]) for f in dataclasses.fields(cls)
                      if environ.get(port_setting(f.name))})

    @classmethod
    def free(cls) -> Ports:
        """Unused ports, so a test stack never meets a running `make run`."""
        sockets = [socket.socket() for _ in dataclasses.fields(cls)]
        try:
            for s in sockets:
                s.bind(("127.0.0.1", 0))
            return cls(*(s.getsockname()[1] for s in sockets))
        finally:
            for s in sockets:
                s.close()


def port_setting(name: str) -> str:
    return f"DEVSTACK_{name.upper()}_PORT"


LISTENERS = {"blob": "Azurite's blob port", "queue": "Azurite's queue port", "table": "Azurite's table port",
             "cosmos": "the Cosmos DB stand-in's port", "nlu": "the NLU service's port",
             "functions": "the functions host's port", "webchat": "the web chat page's port",
             "shop": "the shop API stand-in's port", "qna": "the QnA stand-in's port",
             "sendbird": "the SendBird stand-in's port", "admin": "the admin site's port"}  # each port of Ports


def storage_connection(ports: Ports, blob: int | None = None, queue: int | None = None) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{blob or ports.blob}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{queue or ports.queue}/devstoreaccount1;")


PROXIED = ("blob", "queue", "cosmos", "nlu", "shop", "qna", "sendbird")  # what the fault proxy can stand in front of


# The local host sees every queue write of its functions and polls that queue at once (see
# devstack.host_queues.watch_queue_writes), so idle queues can be polled every second instead of
# host.json's 100 ms, which Azure needs because it does not: each poll costs Azurite ~2 ms of CPU.
LOCAL_HOST_SETTINGS = {"AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:01"}


def app_settings(ports: Ports, via: dict[str, int] | None = None) -> dict[str, str]:
    """The function app's settings for this stack: local.settings.sample.json's, on these ports
    (or on the fault proxy's, for the services named in `via`)."""
    port = {name: getattr(ports, name) for name in PROXIED} | (via or {})
    return {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_WORKER_PROCESS_COUNT": "2",
        "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
        "AzureWebJobsStorage": storage_connection(ports, port["blob"], port["queue"]),
        "COSMOS_ENDPOINT": f"http://127.0.0.1:{port['cosmos']}",
        "COSMOS_KEY": COSMOS_KEY,
        "COSMOS_DATABASE": "switchboard",
        "NLU_URL": f"http://127.0.0.1:{port['nlu']}",
        "NLU_API_KEY": LOCAL_NLU_API_KEY,  # the sample's; a Stack replaces it with its own random key
        "NLU_TIMEOUT_SECONDS": "2",
        "NLU_MIN_CONFIDENCE": "0.5",
        "SHOP_API_URL": f"http://127.0.0.1:{port['shop']}",
        "SHOP_API_KEY": "local-shop-key",
        "QNA_ENDPOINT": f"http://127.0.0.1:{port['qna']}",
        "QNA_API_KEY": "local-qna-key",
        "QNA_PROJECT": "retail-faq",
        "QNA_DEPLOYMENT": "production",
        "QNA_MIN_CONFIDENCE": "0.3",
        "SENDBIRD_API_URL": f"http://127.0.0.1:{port['sendbird']}",
        "SENDBIRD_API_TOKEN": "local-sendbird-token",
        "SENDBIRD_BOT_USER_ID": "switchboard-bot",
        "AGENT_API_TOKEN": "local-agent-token",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "",
        "AZURE_SDK_TRANSPORT": "fast",
        "WEBCHAT_TOKEN_SECRET": "local-webchat-token-secret-not-for-azure",
        "WEBCHAT_MESSAGES_PER_CONVERSATION": "20",
        "WEBCHAT_MESSAGES_PER_ADDRESS": "60",
        "WEBCHAT_CONVERSATIONS_PER_ADDRESS": "10",
        "WEBCHAT_LIMIT_WINDOW_SECONDS": "60",
        "WEBCHAT_TRUSTED_PROXIES": "1",
    }


class StackError(RuntimeError):
    pass


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port_free(port: int) -> bool:
    """Whether a server could listen on it now: bound with SO_REUSEADDR, as the services are, so
    connections of a stopped server waiting out TIME_WAIT do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


class Stack:
    """Starts, restarts and stops the stack's processes. Services start in the order of `ORDER`."""

    ORDER = ("azurite", "cosmos", "nlu", "standins", "functions", "admin", "trainer")

    def __init__(self, var: Path, ports: Ports = Ports(), model: Path | None = None,
                 functions_env: dict[str, str] | None = None, faults: bool = False, cors: str = "*") -> None:
        self.var, self.ports = Path(var), ports
        self.model = model  # an artifact to register when the registry is empty (else: train the demo)
        # with faults: the function app and the admin site reach the backing services through the fault
        # proxy (devstack/faultproxy.py), which `self.fault(...)` commands
        self.proxies = {name: free_port() for name in PROXIED} if faults else {}
        self.fault_control = free_port() if faults else None
        self.order = (("faults",) if faults else ()) + self.ORDER
        # A key of its own for this stack's NLU service (NLU_API_KEYS) and its callers (NLU_API_KEY),
        # through their environment only; written to <var>/nlu-api-key for a person's curl (nlu_key_file)
        self.nlu_api_key = secrets.token_urlsafe(32)
        self.settings = {**app_settings(ports, self.proxies), **LOCAL_HOST_SETTINGS, **(functions_env or {}),
                         "NLU_API_KEY": self.nlu_api_key}
        self.cors = cors  # the origins the functions host lets browsers call it from
        self.procs: dict[str, subprocess.Popen] = {}
        self.watchdog: subprocess.Popen | None = None  # started with the first process
        (self.var / "logs").mkdir(parents=True, exist_ok=True)

    # ---- what each service runs -------------------------------------------------------------------
    def _command(self, name: str) -> tuple[list[str], dict[str, str], Callable[[], bool]]:
        p, py = self.ports, sys.executable
        if name == "azurite":
            cmd = [str(NODE_BIN / "azurite"), "--blobHost", "127.0.0.1", "--blobPort", str(p.blob),
                   "--queueHost", "127.0.0.1", "--queuePort", str(p.queue), "--tableHost", "127.0.0.1",
                   "--tablePort", str(p.table), "--location", str(self.var / "azurite"),
                   "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
            # Not --inMemoryPersistence: it keeps one extent per message, and Azurite's garbage
            # collector, every 60 s, then stalls all requests for seconds (6 s at 20 turns/s).
            if os.environ.get("AZURITE_DEBUG_LOG"):  # Azurite's own debug log, for diagnosing it
                cmd += ["--debug", os.environ["AZURITE_DEBUG_LOG"]]
            return cmd, {}, lambda: _port_open(p.blob) and _port_open(p.queue)
        if name == "cosmos":
            # Its data persists in <var>/cosmos (a snapshot written on stop and every 30 s), so what
            # admins make survives a restart of `make run`; stop()'s SIGTERM lets it write the snapshot.
            cmd = ["node", str(ROOT / "devstack" / "cosmos_server.js"), str(p.cosmos),
                   "--data", str(self.var / "cosmos" / "data.json")]
            return cmd, {}, lambda: _port_open(p.cosmos)
        if name == "nlu":
            env = {"NLU_REGISTRY": REGISTRY, "NLU_REGISTRY_CONNECTION_STRING": storage_connection(p),
                   "NLU_POLL_SECONDS": "2", "NLU_MODEL_CACHE_DIR": str(self.var / "nlu-cache"),
                   "PORT": str(p.nlu), "WEB_CONCURRENCY": "1", "BIND_HOST": "127.0.0.1",
                   "NLU_API_KEYS": self.nlu_api_key}
            cmd = [py, "-m", "gunicorn", "-c", "inference_container/gunicorn.conf.py",
                   "inference_container.wsgi:app"]
            return cmd, env, lambda: _http_ok(f"http://127.0.0.1:{p.nlu}/readyz")
        if name == "standins":
            cmd = [py, "-m", "devstack.standins", "--shop-port", str(p.shop), "--qna-port", str(p.qna),
                   "--sendbird-port", str(p.sendbird), "--webchat-port", str(p.webchat),
                   "--functions-url", f"http://127.0.0.1:{p.functions}"]
            return cmd, self.settings, lambda: all(map(_port_open, (p.shop, p.qna, p.sendbird, p.webchat)))
        if name == "functions":
            cmd = [py, "-m", "devstack.functions_host", "--port", str(p.functions), "--cors", self.cors]
            return cmd, self.settings, lambda: _port_open(p.functions)
        if name == "admin":
            cmd = [py, "-m", "gunicorn", "-c", "admin_site/gunicorn.conf.py", "admin_site.wsgi:app"]
            return cmd, self.admin_settings(), lambda: _http_ok(f"http://127.0.0.1:{p.admin}/healthz")
        if name == "faults":
            control = self.fault_control
            if control is None:
                raise StackError("the fault proxy runs only in a stack made with faults=True")
            routes = [f"{n}={port}:{getattr(p, n)}" for n, port in self.proxies.items()]
            cmd = [py, "-m", "devstack.faultproxy", "--control", str(control), *routes]
            return cmd, {}, lambda: _port_open(control)
        if name == "trainer":
            cmd = [py, "-m", "training_jobs", "worker"]
            return cmd, self.trainer_settings(), lambda: "waiting for requests" in self.log_path(name).read_text()
        raise StackError(f"unknown service {name!r}")

    # ---- lifecycle --------------------------------------------------------------------------------
    def check_ports(self) -> None:
        """Before anything starts: a port held by another process (most often a `make run` still
        running) would make a service exit, or its readiness check pass against the other one."""
        for name, what in LISTENERS.items():
            port = getattr(self.ports, name)
            if not _port_free(port):
                raise StackError(f"{what} {port} is in use (another make run?); "
                                 f"stop it or set {port_setting(name)}")

    def _watch(self, target: int, watched: bool = True) -> None:
        """Have the watchdog stop `target` (as `os.kill` takes it) if this process dies first."""
        if self.watchdog is None:
            self.watchdog = subprocess.Popen([sys.executable, "-m", "devstack.watchdog"], cwd=ROOT,
                                             stdin=subprocess.PIPE, start_new_session=True)
        assert self.watchdog.stdin is not None  # stdin=PIPE
        self.watchdog.stdin.write(f"{'+' if watched else '-'}{target}\n".encode())
        self.watchdog.stdin.flush()

    def start(self, name: str, timeout: float = 120.0) -> None:
        if name == "nlu":
            self.ensure_model()
            self.write_nlu_key()
        if name == "admin":
            self.seed_demo()
        cmd, env, ready = self._command(name)
        log = open(self.var / "logs" / f"{name}.log", "ab")
        self.procs[name] = proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **env})
        log.close()
        self._watch(-proc.pid)
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise StackError(f"{name} exited with code {proc.returncode}; see {self.log_path(name)}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} was not ready after {timeout:.0f}s; see {self.log_path(name)}")
            time.sleep(0.05)

    def start_all(self) -> None:
        self.check_ports()
        try:
            for name in self.order:
                self.start(name)
        except BaseException:
            self.stop_all()
            raise

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._watch(-proc.pid, watched=False)

    def stop_all(self) -> None:
        for name in reversed(self.order):
            self.stop(name)
        if self.watchdog is not None:  # nothing left to watch: it exits
            assert self.watchdog.stdin is not None  # stdin=PIPE
            self.watchdog.stdin.close()
            self.watchdog.wait()
            self.watchdog = None

    @property
    def nlu_key_file(self) -> Path:
        return self.var / NLU_KEY_FILE

    def nlu_headers(self) -> dict[str, str]:
        """What a client of this stack's NLU service sends (tests, benchmarks): its key as a bearer token."""
        return {"Authorization": f"Bearer {self.nlu_api_key}"}

    def write_nlu_key(self) -> None:
        """The key into <var>/nlu-api-key, readable by this user only, for calling the service by hand:
        `curl -H "Authorization: Bearer $(cat var/devstack/nlu-api-key)" ...` (no key in a log or banner)."""
        descriptor = os.open(self.nlu_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a file left by an earlier stack keeps its mode otherwise
        with os.fdopen(descriptor, "w") as out:
            out.write(self.nlu_api_key + "\n")

    def admin_settings(self) -> dict[str, str]:
        """The admin site's settings for this stack: the function app's stores and services, its own
        secret key (made once, kept in the var folder)."""
        key_file = self.var / "admin-secret-key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        p = self.ports
        return {**self.settings, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "function_app")]),
                "ADMIN_SECRET_KEY": key_file.read_text().strip(), "ADMIN_BASE_URL": f"http://127.0.0.1:{p.admin}",
                "FUNCTIONS_URL": f"http://127.0.0.1:{p.functions}",
                "PORT": str(p.admin), "BIND_HOST": "127.0.0.1", "WEB_CONCURRENCY": "1",
                "NLU_REGISTRY": REGISTRY, "TRAINING_STORE": TRAINING_STORE}

    def seed_demo(self) -> None:
        """An empty catalogue gets the demo bot (`python -m admin_site seed-demo`), before the site starts."""
        with open(self.log_path("seed-demo"), "ab") as log:
            done = subprocess.run([sys.executable, "-m", "admin_site", "seed-demo"], cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, env={**os.environ, **self.admin_settings()}, timeout=120)
        if done.returncode != 0:
            raise StackError(f"the catalogue could not be seeded; see {self.log_path('seed-demo')}")

    def trainer_settings(self) -> dict[str, str]:
        """The training worker's: the queue and stores of this stack, 2 Horovod processes here
        (TRAINING_PROCESSES in the launcher's environment says otherwise)."""
        return {"AzureWebJobsStorage": storage_connection(self.ports), "NLU_REGISTRY": REGISTRY,
                "TRAINING_STORE": TRAINING_STORE, "TRAINING_BACKEND": "local",
                "TRAINING_PROCESSES": os.environ.get("TRAINING_PROCESSES", "2"),
                "TRAINING_WORK_DIR": str(self.var / "training"), "ADMIN_BASE_URL": f"http://127.0.0.1:{self.ports.admin}"}

    def fault(self, name: str, fault: str | None, **options) -> dict:
        """Put a fault in front of a backing service (`refuse`, `reset`, `latency` with ms=, `stall`,
        `http` with status= and retry_after_ms=), or take it away (None)."""
        import httpx

        url = f"http://127.0.0.1:{self.fault_control}/proxies/{name}"
        answer = httpx.put(url, json={"fault": fault, **options}) if fault else httpx.delete(url)
        answer.raise_for_status()
        return answer.json()

    def log_path(self, name: str) -> Path:
        return self.var / "logs" / f"{name}.log"

    # ---- the model --------------------------------------------------------------------------------
    def ensure_model(self) -> None:
        """An empty registry gets a production version: the given artifact, or the demo model trained
        from the demo data in the project's data-set format."""
        model = self.model or self.var / "models" / "demo"
        if not (model / "metadata.json").exists():
            print(f"training the demo model from {DEMO_DATA.relative_to(ROOT)} if the registry is empty ...",
                  flush=True)
        env = {**os.environ, "NLU_REGISTRY_CONNECTION_STRING": storage_connection(self.ports),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, "-m", "training_jobs", "bootstrap", "--registry", REGISTRY,
                   "--data", str(DEMO_DATA), "--out", str(model)]
        with open(self.log_path("bootstrap"), "ab") as log:
            training = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._watch(training.pid)  # in this process's group, so that Ctrl-C stops the training too
        training.wait()
        self._watch(training.pid, watched=False)
        if training.returncode != 0:
            raise StackError(f"the model registry could not be bootstrapped; "
                             f"see {self.log_path('bootstrap')}")
