"""Queue triggers of the local functions host, polling Storage (Azurite) the way the Azure host does."""
from __future__ import annotations

import base64
import binascii
import functools
import logging
import random
import re
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import azure.functions.queue as fq

from devstack.storage_rest import Message, QueueRest

log = logging.getLogger("functions_host.queues")


def timespan(value: str | None, default: float) -> float:
    """'hh:mm:ss[.fff]' (host.json's TimeSpan) in seconds."""
    if not value:
        return default
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", value.strip())
    if not match:
        raise ValueError(f"host.json: bad TimeSpan {value!r}")
    days, h, m, s = match.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(m) * 60 + float(s)


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    min_polling_interval: float = 0.1
    message_encoding: str = "base64"
    lease: float = 30.0  # how long a message being processed stays invisible

    @classmethod
    def from_host_json(cls, host: dict[str, Any]) -> QueueOptions:
        q = host.get("extensions", {}).get("queues", {})
        batch = int(q.get("batchSize", 16))
        return cls(batch_size=batch, new_batch_threshold=int(q.get("newBatchThreshold", batch // 2)),
                   max_dequeue_count=int(q.get("maxDequeueCount", 5)),
                   visibility_timeout=timespan(q.get("visibilityTimeout"), 0.0),
                   max_polling_interval=max(0.1, timespan(q.get("maxPollingInterval"), 60.0)),
                   message_encoding=q.get("messageEncoding", "base64").lower())


def decode_queue_body(raw: str, encoding: str) -> bytes:
    if encoding == "none":
        return raw.encode()
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"message is not base64 ({e})") from e


def encode_queue_body(value: str | bytes, encoding: str) -> str:
    data = value.encode() if isinstance(value, str) else value
    return data.decode() if encoding == "none" else base64.b64encode(data).decode()


_write_watchers: list[Callable[[str, str], None]] = []


def watch_queue_writes(notify: Callable[[str, str], None]) -> None:
    """Call `notify(account, queue)` each time function code in this process sends a message with
    azure-storage-queue's `QueueClient`, so that a listener of that queue polls at once.

    The Azure host's shared queue watcher does this for the queue output bindings of its functions;
    a function that routes to a queue chosen at run time (`understand`, a branch handing a turn on)
    writes with the SDK, which only the host's polling would find. Here every write of the host's
    functions is seen, so the local host can poll idle queues less often (see devstack.stack).
    """
    from azure.storage.queue import QueueClient, QueueMessage

    if not _write_watchers:
        send_message = QueueClient.send_message

        @functools.wraps(send_message)
        def watched(self: QueueClient, *args, **kwargs) -> QueueMessage:  # the method it replaces
            sent = send_message(self, *args, **kwargs)
            if account := self.account_name:  # None only for a URL that names no account: no listener's
                for watcher in _write_watchers:
                    watcher(account, self.queue_name)
            return sent

        QueueClient.send_message = watched
    _write_watchers.append(notify)


class QueueListener(threading.Thread):
    def __init__(self, name: str, queue: str, connection: str, arg_name: str, function: Callable,
                 options: QueueOptions, stop: threading.Event, pool: ThreadPoolExecutor) -> None:
        super().__init__(name=f"queue:{queue}", daemon=True)
        self.function_name, self.queue, self.arg_name, self.function = name, queue, arg_name, function
        self.options, self.stop = options, stop
        self.client, self.poison = QueueRest(connection, queue), QueueRest(connection, f"{queue}-poison")
        self.pool = pool  # the worker's one pool for synchronous functions, shared by every trigger
        self.wake = threading.Event()  # set when this host wrote to the queue: poll now

    def run(self) -> None:
        for client in (self.client, self.poison):
            client.create()
        interval = self.options.min_polling_interval
        running: set[Future] = set()
        while not self.stop.is_set():
            room = self.options.batch_size + self.options.new_batch_threshold - len(running)
            if len(running) > self.options.new_batch_threshold or room <= 0:
                _, running = wait(running, return_when=FIRST_COMPLETED)
                continue
            try:
                messages = self.client.receive(min(room, self.options.batch_size), int(self.options.lease))
            except OSError as e:  # StorageError too: Azurite restarting, a network blip
                log.warning("polling %s failed: %s", self.queue, e)
                messages = []
            if messages:
                interval = self.options.min_polling_interval
                try:
                    running |= {self.pool.submit(self._process, m) for m in messages}
                except RuntimeError:  # the host is stopping: these come back after their lease
                    break
                if len(messages) == min(room, self.options.batch_size):
                    continue  # a full batch: there may be more
                # Fewer than asked for: the queue is empty now; poll again after the minimum interval.
            # Randomised exponential back-off while the queue is empty, as the Azure host does, cut
            # short when a function of this host writes to the queue.
            if self.wake.wait(interval * random.uniform(0.8, 1.0)):
                self.wake.clear()
                interval = self.options.min_polling_interval
            elif not messages:
                interval = min(interval * 2, self.options.max_polling_interval)
        wait(running)

    def _process(self, message: Message) -> None:
        try:
            body = decode_queue_body(message.content, self.options.message_encoding)
        except ValueError as e:
            log.error("%s: message %s cannot be decoded (%s): moving it to %s-poison",
                      self.function_name, message.id, e, self.queue)
            self._to_poison(message)
            return
        trigger = fq.QueueMessage(id=message.id, body=body, dequeue_count=message.dequeue_count,
                                  pop_receipt=message.pop_receipt)
        try:
            self.function(**{self.arg_name: trigger})
        except Exception as e:
            self._failed(message, e)
            return
        try:
            self.client.delete(message)
        except OSError as e:  # the lease expired and someone else has it: it will run again
            log.warning("%s: could not delete message %s: %s", self.function_name, message.id, e)

    def _failed(self, message: Message, error: Exception) -> None:
        attempt, limit = message.dequeue_count or 1, self.options.max_dequeue_count
        if attempt >= limit:
            log.error("%s: message %s failed %d times (%s: %s): moving it to %s-poison",
                      self.function_name, message.id, attempt, type(error).__name__, error, self.queue)
            self._to_poison(message)
            return
        log.warning("%s: message %s failed (attempt %d of %d): %s: %s; visible again in %.1fs",
                    self.function_name, message.id, attempt, limit, type(error).__name__, error,
                    self.options.visibility_timeout)
        try:
            self.client.release(message, int(round(self.options.visibility_timeout)))
        except OSError as e:
            log.warning("%s: could not release message %s: %s", self.function_name, message.id, e)

    def _to_poison(self, message: Message) -> None:
        self.poison.send(message.content)
        self.client.delete(message)
