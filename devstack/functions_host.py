"""A local Azure Functions host for the Python v2 programming model.

It imports `function_app/function_app.py` in-process and is driven by the app's own metadata
(`app.get_functions()`: trigger and binding dictionaries). HTTP triggers are served under
`/api/<route>`; queue triggers are polled from Storage (Azurite) honouring host.json's queue
settings: batchSize / newBatchThreshold, visibilityTimeout after a failure, maxDequeueCount ->
`<queue>-poison`, and a randomised exponential polling back-off from 100 ms to maxPollingInterval,
cut short when a function of this host writes to the queue (`watch_queue_writes`). App settings
named `AzureFunctionsJobHost__…` override host.json, as on Azure.

    python -m devstack.functions_host [--app function_app] [--port 7071] [--cors '*']

Settings come from the environment, then `local.settings.json` Values (as Core Tools does).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devstack.app_loader import load_app, load_settings
from devstack.host_http import HttpRoute, serve
from devstack.host_queues import QueueListener, QueueOptions, encode_queue_body, watch_queue_writes
from devstack.host_workers import WorkerPool, call
from devstack.storage_rest import QueueRest

log = logging.getLogger("functions_host")
ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = {"httpTrigger", "http", "queueTrigger", "queue"}  # "queue": an output binding


def resolve(value: str) -> str:
    """Binding expressions of the form %SETTING% are read from the settings."""
    def setting(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise KeyError(f"binding expression %{name}% names a setting that is not set")
        return os.environ[name]
    return re.sub(r"%([^%]+)%", setting, value)


def host_settings(app_dir: Path) -> dict[str, Any]:
    """host.json, with the overrides Azure takes from app settings named
    `AzureFunctionsJobHost__<path>__<to>__<key>` (keys matched regardless of case)."""
    host = json.loads((app_dir / "host.json").read_text())
    for name, value in os.environ.items():
        if not name.startswith("AzureFunctionsJobHost__"):
            continue
        *path, key = name.split("__")[1:]
        node = host
        for part in path:
            existing = next((k for k in node if k.lower() == part.lower()), part)
            node = node.setdefault(existing, {})
        node[next((k for k in node if k.lower() == key.lower()), key)] = value
    return host


# ---- the host ------------------------------------------------------------------------------------
class Host:
    def __init__(self, app_dir: Path, port: int, cors: str = "") -> None:
        load_settings(app_dir)
        self.app_dir, self.port, self.cors = app_dir, port, cors
        self.host_json = host_settings(app_dir)
        self.queue_options = QueueOptions.from_host_json(self.host_json)
        self.route_prefix = self.host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
        self.stop_event = threading.Event()
        self.routes: list[Any] = []
        self.listeners: list[Any] = []
        self.senders: dict[str, QueueRest] = {}  # output binding queue -> its client
        # As the Python worker runs synchronous functions: one shared pool of
        # PYTHON_THREADPOOL_THREAD_COUNT threads (default min(32, cores + 4)) per worker process.
        threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT") or min(32, (os.cpu_count() or 1) + 4))
        processes = int(os.environ.get("FUNCTIONS_WORKER_PROCESS_COUNT") or 0)
        if not 0 <= processes <= 10:
            raise ValueError(f"FUNCTIONS_WORKER_PROCESS_COUNT is {processes}; Azure allows 1 to 10")
        self.pool = ThreadPoolExecutor(threads * max(1, processes), thread_name_prefix="fn")
        app = load_app(app_dir)
        for function in app.get_functions():
            self._register(function)
        # Unset: the functions run in this process. Set: in that many worker processes (as on Azure).
        if processes:
            self.workers = WorkerPool(app_dir, processes, threads, on_queue_write=self.wake)
        else:
            self.workers = None
            watch_queue_writes(self.wake)

    def wake(self, account: str, queue: str) -> None:
        """A function of this host wrote to `queue`: its listener here, if any, polls at once."""
        for listener in self.listeners:
            if listener.queue == queue and listener.client.account == account:
                listener.wake.set()

    def _connection(self, function: str, binding: dict) -> str:
        setting = binding.get("connection") or "AzureWebJobsStorage"
        if not os.environ.get(setting):
            raise RuntimeError(f"function {function}: connection setting {setting} is not set")
        return os.environ[setting]

    def _register(self, function) -> None:
        name = function.get_function_name()
        bindings = [b.get_dict_repr() for b in function.get_bindings()]
        unsupported = [b["type"] for b in bindings if b["type"] not in SUPPORTED]
        if unsupported:
            raise RuntimeError(f"function {name}: binding type(s) {unsupported} are not supported locally")
        trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
        outputs = {}
        for b in bindings:
            if b["type"] == "queue":
                queue = resolve(b["queueName"])
                outputs[b["name"]] = queue
                self.senders.setdefault(queue, QueueRest(self._connection(name, b), queue))
        user_function = self._invoker(name, function.get_user_function(), outputs)
        if trigger["type"] == "httpTrigger":
            methods = [str(getattr(m, "value", m)).upper() for m in trigger.get("methods") or []]
            self.routes.append(HttpRoute(name, resolve(trigger.get("route") or name), methods,
                                         trigger["name"], user_function))
        else:
            queue, connection = resolve(trigger["queueName"]), self._connection(name, trigger)
            self.listeners.append(QueueListener(name, queue, connection, trigger["name"], user_function,
                                                self.queue_options, self.stop_event, self.pool))

    def _invoker(self, name: str, user_function: Callable, outputs: dict[str, str]) -> Callable:
        """Runs the function (here or in a worker process) with an `Out` per queue output binding, then
        writes what it set, before the invocation counts as done (HTTP response sent, trigger message
        deleted). As the Azure host's shared queue watcher does, a listener of that queue in this host
        is woken to take it at once."""

        def invoke(**kwargs):
            if self.workers is not None:
                result, values = self.workers.invoke(name, kwargs)
            else:
                result, values = call(user_function, list(outputs), kwargs)
            for arg, value in values.items():
                sender = self.senders[outputs[arg]]
                sender.send(encode_queue_body(value, self.queue_options.message_encoding))
                self.wake(sender.account, sender.queue)
            return result

        return invoke

    def run(self) -> None:
        for listener in self.listeners:
            listener.start()
        server = serve(self, "127.0.0.1", self.port)
        log.info("functions host: %d HTTP route(s) on http://127.0.0.1:%d/%s, %d queue trigger(s)",
                 len(self.routes), self.port, self.route_prefix, len(self.listeners))
        for route in self.routes:
            log.info("  %-18s %s /%s/%s", route.name, ",".join(route.methods), self.route_prefix, route.route)
        for listener in self.listeners:
            log.info("  %-18s queue %s", listener.function_name, listener.queue)
        self.stop_event.wait()
        server.shutdown()
        # Invocations not yet started are dropped: their messages stay leased and come back after
        # the lease, as at-least-once delivery allows. Those under way finish.
        self.pool.shutdown(wait=False, cancel_futures=True)
        for listener in self.listeners:
            listener.join()
        self.pool.shutdown()
        if self.workers is not None:
            self.workers.close()


def bundle_shared_package(app_dir: Path) -> None:
    """What the azd `prepackage` hook does before a deployment: the shared package into the app's
    folder, where the app then imports it from (`load_app` puts the folder first on `sys.path`). Read
    from its file, so that this process imports no `switchboard` of its own before the app's."""
    spec = importlib.util.spec_from_file_location("switchboard_bundle", ROOT / "switchboard" / "bundle.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {ROOT / 'switchboard' / 'bundle.py'} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.bundle(app_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.functions_host",
                                     description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--app", default="function_app", help="the function app folder")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FUNCTIONS_PORT", 7071)))
    parser.add_argument("--cors", default="", help="allowed origins for browsers, e.g. '*'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app_dir = Path(args.app).resolve()
    if not (app_dir / "function_app.py").exists():
        parser.error(f"{app_dir} has no function_app.py")
    bundle_shared_package(app_dir)
    try:
        host = Host(app_dir, args.port, args.cors)
    except Exception as e:  # a start-up failure is one clear line, as `func start` prints it
        log.error("the function app failed to load: %s: %s", type(e).__name__, e)
        raise SystemExit(1) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: host.stop_event.set())
    host.run()


if __name__ == "__main__":
    main()
