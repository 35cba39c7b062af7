"""The poison queues as the poison page sees them: which `*-poison` queues hold messages, what each
parked message says, and moving one back onto its source queue or deleting it.

A parked message is kept as the Functions host parked it: its text base64-encoded (the host copies
the message it gave up on; `core.steps` parks with the same encoding). Re-queueing sends the decoded
text to the source queue (the poison queue's name without `-poison`), base64-encoded as the host's
queue trigger expects, and only then deletes it from the poison queue: a crash between the two
duplicates the message rather than losing it, and the pipeline answers a duplicate turn once.

Deleting a queue message needs its pop receipt, which only receiving gives: the adapter receives
with a short visibility timeout until it meets the message, and makes every other message it
received visible again at once. Receiving counts as a dequeue, so those messages' dequeue counts go
up by one; nothing ever processes a poison queue, so no retry limit is affected.

`StoragePoisonQueues` talks to Storage (Azurite locally); `MemoryPoisonQueues` is its twin for unit
tests; one contract test body runs over both (tests/admin_site/test_queues.py). (The function app's
own `Queues` carry turns; these only ever look at the ones it parked.)
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, TextBase64EncodePolicy

from admin_site.settings import Settings
from switchboard.connections import StorageAccount, storage_account

POISON_SUFFIX = "-poison"
MAX_PEEK = 32  # Storage's limit for one peek or receive
HIDE_SECONDS = 30  # how long a receive hides what it received, should we fail to show it again
MAX_RECEIVES = 100  # batches of 32 searched for one message before giving up
_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


class QueueError(Exception):
    """Storage refused or did not answer; the message says what was being done."""


class MessageGone(QueueError):
    """The message is no longer in the queue (someone re-queued or discarded it meanwhile)."""


@dataclass(frozen=True)
class PoisonQueue:
    name: str
    count: int  # approximate, as Storage reports it (hidden messages included)

    @property
    def source(self) -> str:
        return source_queue(self.name)


@dataclass(frozen=True)
class ParkedMessage:
    id: str
    text: str  # decoded from base64 when it was base64 text, else as stored
    dequeue_count: int
    inserted_at: float | None  # epoch seconds


def is_poison_queue(name: str) -> bool:
    return name.endswith(POISON_SUFFIX) and bool(_QUEUE_NAME.match(name)) and len(name) > len(POISON_SUFFIX)


def source_queue(poison: str) -> str:
    """The queue a poison queue's messages came from: `turns-incoming-poison` -> `turns-incoming`."""
    if not is_poison_queue(poison):
        raise ValueError(f"{poison!r} is not a poison queue's name")
    return poison[: -len(POISON_SUFFIX)]


def decode_text(content: str) -> str:
    """A message's text: the host's base64 decoded, or the content itself when it is not base64 of
    UTF-8 text (written by something else; shown as it is)."""
    try:
        return base64.b64decode(content.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return content


class PoisonQueues(Protocol):
    def poison_queues(self) -> list[PoisonQueue]:
        """Every queue whose name ends in `-poison`, by name, with its approximate count."""
        ...

    def peek(self, queue: str, limit: int = MAX_PEEK) -> list[ParkedMessage]:
        """The first `limit` (at most 32) visible messages, without hiding or counting them."""
        ...

    def requeue(self, queue: str, message_id: str) -> ParkedMessage:
        """Send the message to the source queue, then delete it here; `MessageGone` if it is not here."""
        ...

    def discard(self, queue: str, message_id: str) -> ParkedMessage:
        """Delete the message; `MessageGone` if it is not here."""
        ...

    def total_parked(self) -> int: ...


class StoragePoisonQueues:
    def __init__(self, connection: str | StorageAccount) -> None:
        # short timeouts, one retry: the navigation bar's count asks on every page (cached for seconds)
        self._service = storage_account(connection).queue_service(connection_timeout=3, read_timeout=10,
                                                                  retry_total=1)

    def _queue(self, name: str, encoded: bool = False) -> QueueClient:
        policy = {"message_encode_policy": TextBase64EncodePolicy()} if encoded else {}
        return self._service.get_queue_client(name, **policy)

    def poison_queues(self) -> list[PoisonQueue]:
        with _translated("listing the queues"):
            names = sorted(q.name for q in self._service.list_queues() if is_poison_queue(q.name))
            return [PoisonQueue(n, self._queue(n).get_queue_properties().approximate_message_count or 0)
                    for n in names]

    def total_parked(self) -> int:
        return sum(q.count for q in self.poison_queues())

    def peek(self, queue: str, limit: int = MAX_PEEK) -> list[ParkedMessage]:
        with _translated(f"reading {queue}"):
            try:
                found = self._queue(queue).peek_messages(max_messages=max(1, min(limit, MAX_PEEK)))
            except ResourceNotFoundError:
                return []
        return [_parked(m) for m in found]

    def requeue(self, queue: str, message_id: str) -> ParkedMessage:
        source = source_queue(queue)

        def send(message: ParkedMessage) -> None:
            client = self._queue(source, encoded=True)
            try:
                client.send_message(message.text)
            except ResourceNotFoundError:  # the source queue was deleted: make it again
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                client.send_message(message.text)

        with _translated(f"re-queueing {message_id} from {queue} onto {source}"):
            return self._remove(queue, message_id, send)

    def discard(self, queue: str, message_id: str) -> ParkedMessage:
        source_queue(queue)
        with _translated(f"discarding {message_id} from {queue}"):
            return self._remove(queue, message_id, lambda message: None)

    def _remove(self, queue: str, message_id: str, before_delete: Callable[[ParkedMessage], None]) -> ParkedMessage:
        """Find the message by receiving (which gives its pop receipt), run `before_delete`, delete
        it; whatever else was received is made visible again, whatever happens."""
        client = self._queue(queue)
        received: list[QueueMessage] = []
        try:
            target = self._receive_until(client, queue, message_id, received)
            message = _parked(target)
            before_delete(message)
            try:
                client.delete_message(target.id, target.pop_receipt)
            except ResourceNotFoundError as e:  # deleted by someone else meanwhile
                raise MessageGone(f"message {message_id} was removed from {queue} meanwhile") from e
            received.remove(target)
            return message
        finally:
            for other in received:
                _show_again(client, other)

    @staticmethod
    def _receive_until(client: QueueClient, queue: str, message_id: str,
                       received: list[QueueMessage]) -> QueueMessage:
        for _ in range(MAX_RECEIVES):
            try:
                batch = list(client.receive_messages(messages_per_page=MAX_PEEK, max_messages=MAX_PEEK,
                                                     visibility_timeout=HIDE_SECONDS))
            except ResourceNotFoundError as e:
                raise MessageGone(f"there is no queue {queue}") from e
            received += batch
            target = next((m for m in batch if m.id == message_id), None)
            if target is not None:
                return target
            if not batch:
                break
        raise MessageGone(f"message {message_id} is no longer in {queue}")


def _show_again(client: QueueClient, message: QueueMessage) -> None:
    try:
        client.update_message(message.id, message.pop_receipt, visibility_timeout=0)
    except AzureError:  # it shows again by itself after HIDE_SECONDS
        pass


def _parked(message: QueueMessage) -> ParkedMessage:
    inserted = message.inserted_on.timestamp() if message.inserted_on else None
    return ParkedMessage(message.id, decode_text(message.content or ""), message.dequeue_count or 0, inserted)


@contextlib.contextmanager
def _translated(doing: str) -> Iterator[None]:
    """Storage's errors as `QueueError`, naming what was being done."""
    try:
        yield
    except AzureError as e:
        reason = getattr(e, "reason", None) or str(e).splitlines()[0]
        raise QueueError(f"{doing}: Storage answered {reason}") from e


class MemoryPoisonQueues:
    """The twin: queues of text messages in memory. `park` puts a message in a queue as the host
    would; `queue` reads a queue (a source queue after a re-queue); `failures` are raised, one per
    call, where Storage would fail (the send to the source queue included); a None lets its call pass."""

    def __init__(self) -> None:
        self._queues: dict[str, list[ParkedMessage]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.failures: list[Exception | None] = []

    def _fail(self) -> None:
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure

    def park(self, queue: str, text: str) -> ParkedMessage:
        message = ParkedMessage(f"m{next(self._ids)}", text, 0, time.time())
        with self._lock:
            self._queues.setdefault(queue, []).append(message)
        return message

    def queue(self, name: str) -> list[str]:
        with self._lock:
            return [m.text for m in self._queues.get(name, [])]

    def poison_queues(self) -> list[PoisonQueue]:
        self._fail()
        with self._lock:
            return [PoisonQueue(n, len(ms)) for n, ms in sorted(self._queues.items()) if is_poison_queue(n)]

    def total_parked(self) -> int:
        return sum(q.count for q in self.poison_queues())

    def peek(self, queue: str, limit: int = MAX_PEEK) -> list[ParkedMessage]:
        self._fail()
        with self._lock:
            return list(self._queues.get(queue, [])[: max(1, min(limit, MAX_PEEK))])

    def requeue(self, queue: str, message_id: str) -> ParkedMessage:
        source = source_queue(queue)
        message = self._find(queue, message_id)
        self._fail()  # the send to the source queue: the message stays parked
        self.park(source, message.text)
        return self._delete(queue, message_id)

    def discard(self, queue: str, message_id: str) -> ParkedMessage:
        source_queue(queue)
        self._find(queue, message_id)
        self._fail()  # the delete
        return self._delete(queue, message_id)

    def _find(self, queue: str, message_id: str) -> ParkedMessage:
        with self._lock:
            for message in self._queues.get(queue, []):
                if message.id == message_id:
                    return message
        raise MessageGone(f"message {message_id} is no longer in {queue}")

    def _delete(self, queue: str, message_id: str) -> ParkedMessage:
        with self._lock:
            messages = self._queues.get(queue, [])
            for i, message in enumerate(messages):
                if message.id == message_id:
                    del messages[i]
                    return message
        raise MessageGone(f"message {message_id} is no longer in {queue}")


def make_poison_queues(config: Settings) -> PoisonQueues:
    """Storage queues in `config.storage`, or their in-memory twin without one."""
    if config.storage:
        return StoragePoisonQueues(config.storage)
    return MemoryPoisonQueues()

