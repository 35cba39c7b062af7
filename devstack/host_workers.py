"""Language worker processes of the local functions host (FUNCTIONS_WORKER_PROCESS_COUNT).

On Azure the host polls queues, serves HTTP and writes output bindings, while the function code runs
in separate Python worker processes, each with its own thread pool. With the setting, this host does
the same: it keeps triggers and bindings, and each invocation runs in one of N worker processes
(the one with the fewest invocations under way), so the function code is not held to the host's GIL.

A worker stops when the host does, after the invocations it has under way. If the host is killed, or
the process group gets SIGTERM, the workers exit at once; their queue messages come back after
their lease. A worker that crashes is started again.
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import azure.functions as func
import azure.functions.queue as fq

from devstack.app_loader import load_app, load_settings
from devstack.host_queues import watch_queue_writes

log = logging.getLogger("functions_host.workers")


class FunctionFailed(Exception):
    """The function raised (the worker logged its traceback) or its worker died."""


class Out(func.Out):
    """The value a function sets on an output binding, written by the host after the function returns."""

    def __init__(self) -> None:
        self._value = None

    def set(self, val) -> None:
        self._value = val

    def get(self):
        return self._value


def call(user_function, outputs: list[str], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Run a function with an `Out` per output binding; returns its result and what it set."""
    bound = {arg: Out() for arg in outputs}
    result = user_function(**kwargs, **bound)
    return result, {arg: out.get() for arg, out in bound.items() if out.get() is not None}


# ---- what crosses the pipe: the triggers' and the HTTP response's fields ---------------------------
def _pack(value: Any) -> Any:
    if isinstance(value, func.HttpRequest):
        return ("http", value.method, value.url, dict(value.headers), dict(value.params),
                dict(value.route_params), value.get_body())
    if isinstance(value, fq.QueueMessage):
        return ("queue", value.id, value.get_body(), value.dequeue_count, value.pop_receipt)
    if isinstance(value, func.HttpResponse):
        return ("response", value.get_body(), value.status_code, dict(value.headers), value.mimetype,
                value.charset)
    return ("value", value)


def _unpack(packed: tuple) -> Any:
    kind, *f = packed
    if kind == "http":
        return func.HttpRequest(f[0], f[1], headers=f[2], params=f[3], route_params=f[4], body=f[5])
    if kind == "queue":
        return fq.QueueMessage(id=f[0], body=f[1], dequeue_count=f[2], pop_receipt=f[3])
    if kind == "response":
        headers = {k: v for k, v in f[2].items() if k.lower() != "content-type"}
        return func.HttpResponse(f[0], status_code=f[1], headers=headers, mimetype=f[3], charset=f[4])
    return f[0]


# ---- the worker process ------------------------------------------------------------------------------
def worker_main(app_dir: str, threads: int, conn: Connection) -> None:
    # Ctrl-C reaches the whole process group: the host stops, then tells its workers. SIGTERM
    # (the stack stopping the group; multiprocessing's clean-up at exit) ends a worker at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s %(levelname)s worker-{os.getpid()} %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    load_settings(Path(app_dir))
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            conn.send(message)

    watch_queue_writes(lambda account, queue: send(("wrote", account, queue)))
    functions = {}
    for function in load_app(Path(app_dir)).get_functions():
        outputs = [b.name for b in function.get_bindings() if b.get_dict_repr()["type"] == "queue"]
        functions[function.get_function_name()] = (function.get_user_function(), outputs)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="fn")

    def run(call_id: int, name: str, kwargs: dict[str, tuple]) -> None:
        try:
            user_function, outputs = functions[name]
            result, values = call(user_function, outputs, {k: _unpack(v) for k, v in kwargs.items()})
            reply = ("done", call_id, (_pack(result), values))
        except Exception as e:  # as the Python worker does: log it, report the invocation failed
            log.exception("function %s failed", name)
            reply = ("failed", call_id, f"{type(e).__name__}: {e}")
        send(reply)

    conn.send("ready")
    while True:
        try:
            invocation = conn.recv()
        except (EOFError, OSError):  # the host is gone: what was under way comes back after its lease
            os._exit(0)
        if invocation is None:  # the host is stopping: finish what is under way
            pool.shutdown()
            return
        pool.submit(run, *invocation)


# ---- the host's side -----------------------------------------------------------------------------------
class Worker:
    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool, self.index = pool, index
        self.pending: dict[int, Future] = {}
        self.lock = threading.Lock()
        self.alive = False
        self.start()

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, as the real worker is
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(str(self.pool.app_dir), self.pool.threads, child),
                                   name=f"worker-{self.index}", daemon=True)
        self.process.start()
        child.close()
        if self.conn.recv() != "ready":
            raise RuntimeError(f"worker {self.index} did not start")
        self.alive = True
        threading.Thread(target=self._read, args=(self.conn,), name=f"worker-{self.index}-replies",
                         daemon=True).start()

    def submit(self, call_id: int, name: str, kwargs: dict[str, tuple]) -> Future:
        future: Future = Future()
        with self.lock:
            self.pending[call_id] = future
            try:
                self.conn.send((call_id, name, kwargs))
            except OSError as e:  # the worker just died; its reader starts it again
                del self.pending[call_id]
                raise FunctionFailed(f"worker {self.index} is not running: {e}") from e
        return future

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                kind, *message = conn.recv()
            except (EOFError, OSError):
                self.alive = False
                break
            if kind == "wrote":  # function code wrote to a queue
                self.pool.on_queue_write(*message)
                continue
            call_id, payload = message
            with self.lock:
                future = self.pending.pop(call_id, None)
            if future is not None and kind == "done":
                future.set_result(payload)
            elif future is not None:
                future.set_exception(FunctionFailed(payload))
        with self.lock:
            lost, self.pending = self.pending, {}
        for future in lost.values():
            future.set_exception(FunctionFailed(f"worker {self.index} exited"))
        self.process.join(5)
        if self.pool.closing or self.process.exitcode == -signal.SIGTERM:  # stopped, not crashed
            return
        log.error("worker %d (pid %s) exited with code %s; starting it again",
                  self.index, self.process.pid, self.process.exitcode)
        try:
            self.start()
        except Exception as e:
            log.error("worker %d could not be started again: %s: %s", self.index, type(e).__name__, e)


class WorkerPool:
    def __init__(self, app_dir: Path, count: int, threads: int,
                 on_queue_write: Callable[[str, str], None] = lambda account, queue: None) -> None:
        self.app_dir, self.threads, self.closing = app_dir, threads, False
        self.on_queue_write = on_queue_write  # (account, queue) a function wrote to
        self._ids = itertools.count()
        self.workers = [Worker(self, i) for i in range(count)]

    def invoke(self, name: str, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Run function `name` in the least busy worker; returns its result and output binding values."""
        call_id = next(self._ids)
        running = [w for w in self.workers if w.alive]
        if not running:
            raise FunctionFailed("no worker process is running")
        turn = call_id % len(running)  # ties go round the workers, not always to the first
        worker = min(running[turn:] + running[:turn], key=lambda w: len(w.pending))
        future = worker.submit(call_id, name, {k: _pack(v) for k, v in kwargs.items()})
        packed, values = future.result()
        return _unpack(packed), values

    def close(self) -> None:
        self.closing = True
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self.workers:
            worker.process.join(10)
