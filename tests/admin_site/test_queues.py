"""The poison queues adapter: one contract test body over the in-memory twin and a real Azurite queue
service; re-queueing sends (base64, as the Functions host reads it) before it deletes."""
from __future__ import annotations

import base64
import subprocess
import uuid

import pytest
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from admin_site.queues import (
    MemoryPoisonQueues,
    MessageGone,
    QueueError,
    StoragePoisonQueues,
    decode_text,
    is_poison_queue,
    make_poison_queues,
    source_queue,
)
from adminclient import make_settings
from devstack.stack import AZURITE_KEY, free_port
from helpers import ROOT, stop_process, wait_for_port
from switchboard.connections import storage_account


@pytest.fixture(scope="module")
def azurite_queues(tmp_path_factory) -> str:
    """Connection string of a fresh Azurite queue service (the npm package, a real server)."""
    binary = ROOT / "node_modules" / ".bin" / "azurite-queue"
    if not binary.exists():
        pytest.fail("Azurite is not installed: run `make install` (npm ci)")
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "--queueHost", "127.0.0.1", "--queuePort", str(port),
         "--location", str(tmp_path_factory.mktemp("azurite-queue")), "--skipApiVersionCheck", "--silent", "--loose"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
               f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    finally:
        stop_process(proc)


class MemoryBackend:
    def __init__(self) -> None:
        self.queues = MemoryPoisonQueues()

    def park(self, queue: str, text: str) -> str:
        return self.queues.park(queue, text).id

    park_raw = park  # the twin keeps text; there is no encoding to get wrong

    def texts(self, queue: str) -> list[str]:
        return self.queues.queue(queue)


class AzuriteBackend:
    """Parks messages as the Functions host does (base64 text), and reads queues raw."""

    def __init__(self, connection: str) -> None:
        self.connection = connection
        self.queues = StoragePoisonQueues(connection)

    def _client(self, queue: str, encoded: bool) -> QueueClient:
        policy = {"message_encode_policy": TextBase64EncodePolicy()} if encoded else {}
        client = QueueClient.from_connection_string(self.connection, queue, **policy)
        try:
            client.create_queue()
        except Exception:  # noqa: BLE001 - it exists
            pass
        return client

    def park(self, queue: str, text: str) -> str:
        return self._client(queue, encoded=True).send_message(text).id

    def park_raw(self, queue: str, content: str) -> str:
        return self._client(queue, encoded=False).send_message(content).id

    def texts(self, queue: str) -> list[str]:
        """The queue's messages, each of which must be base64 text, as the host's trigger reads it."""
        raw = self._client(queue, encoded=False).peek_messages(max_messages=32)
        return [base64.b64decode(m.content, validate=True).decode("utf-8") for m in raw]


@pytest.fixture(params=["memory", "azurite"])
def backend(request):
    if request.param == "memory":
        return MemoryBackend()
    return AzuriteBackend(request.getfixturevalue("azurite_queues"))


@pytest.fixture
def names() -> tuple[str, str]:
    """A fresh source queue and its poison queue (the Azurite server is shared by the module)."""
    source = f"q{uuid.uuid4().hex[:12]}"
    return source, f"{source}-poison"


def test_poison_queues_are_listed_with_their_counts_and_nothing_else(backend, names):
    source, poison = names
    for text in ("a", "b", "c"):
        backend.park(poison, text)
    backend.park(source, "not parked")
    counts = {q.name: (q.count, q.source) for q in backend.queues.poison_queues()}
    assert counts[poison] == (3, source)
    assert source not in counts and all(name.endswith("-poison") for name in counts)
    assert backend.queues.total_parked() >= 3


def test_peek_shows_each_message_decoded_with_its_dequeue_count_and_time(backend, names):
    _, poison = names
    envelope = '{"turn_id": "webchat:c1:m1", "text": "héllo <script>"}'
    first = backend.park(poison, envelope)
    backend.park_raw(poison, "{not base64: written by something else}")
    peeked = backend.queues.peek(poison)
    assert [m.text for m in peeked] == [envelope, "{not base64: written by something else}"]
    assert peeked[0].id == first and peeked[0].dequeue_count == 0 and peeked[0].inserted_at > 0
    assert backend.queues.peek(poison) == peeked  # peeking hides and counts nothing


def test_requeue_sends_to_the_source_queue_as_base64_then_deletes_and_leaves_the_rest_visible(backend, names):
    source, poison = names
    ids = [backend.park(poison, f'{{"n": {i}}}') for i in range(3)]
    moved = backend.queues.requeue(poison, ids[1])
    assert moved.text == '{"n": 1}'
    assert backend.texts(source) == ['{"n": 1}']
    assert [m.text for m in backend.queues.peek(poison)] == ['{"n": 0}', '{"n": 2}']  # shown again at once


def test_a_message_beyond_the_first_32_can_be_found_and_discarded(backend, names):
    _, poison = names
    ids = [backend.park(poison, f"m{i}") for i in range(40)]
    gone = backend.queues.discard(poison, ids[37])
    assert gone.text == "m37"
    remaining = {q.name: q.count for q in backend.queues.poison_queues()}[poison]
    assert remaining == 39 and len(backend.queues.peek(poison)) == 32


def test_an_unknown_message_or_queue_is_message_gone(backend, names):
    _, poison = names
    backend.park(poison, "a")
    with pytest.raises(MessageGone, match="no longer"):
        backend.queues.discard(poison, "no-such-message")
    with pytest.raises(MessageGone):
        backend.queues.requeue(f"q{uuid.uuid4().hex[:12]}-poison", "no-such-message")
    assert [m.text for m in backend.queues.peek(poison)] == ["a"]
    assert backend.queues.peek(f"q{uuid.uuid4().hex[:12]}-poison") == []


def test_a_discarded_message_is_gone_and_a_second_discard_says_so(backend, names):
    _, poison = names
    message_id = backend.park(poison, "bye")
    backend.queues.discard(poison, message_id)
    assert backend.queues.peek(poison) == []
    with pytest.raises(MessageGone):
        backend.queues.discard(poison, message_id)


def test_only_a_poison_queue_can_be_emptied(backend, names):
    source, _ = names
    backend.park(source, "live traffic")
    with pytest.raises(ValueError, match="not a poison queue"):
        backend.queues.discard(source, "whatever")


class SourceDown(StoragePoisonQueues):
    """Storage whose source queues cannot be reached (a real refused connection)."""

    def __init__(self, connection: str) -> None:
        super().__init__(connection)
        self._down = QueueClient.from_connection_string(
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;", "down",
            message_encode_policy=TextBase64EncodePolicy(), retry_total=0, connection_timeout=2)

    def _queue(self, name: str, encoded: bool = False) -> QueueClient:
        return self._down if encoded else super()._queue(name)


def test_when_the_send_to_the_source_fails_the_message_stays_parked_and_visible(azurite_queues, names):
    _, poison = names
    backend = AzuriteBackend(azurite_queues)
    message_id = backend.park(poison, "keep me")
    with pytest.raises(QueueError, match="re-queueing"):
        SourceDown(azurite_queues).requeue(poison, message_id)
    assert [m.text for m in backend.queues.peek(poison)] == ["keep me"]  # not lost, not hidden


def test_the_twin_fails_as_told_and_keeps_the_message_when_the_send_fails():
    queues = MemoryPoisonQueues()
    message = queues.park("turns-outgoing-poison", "keep me")
    queues.failures.append(QueueError("down"))
    with pytest.raises(QueueError):
        queues.requeue("turns-outgoing-poison", message.id)
    assert queues.queue("turns-outgoing-poison") == ["keep me"] and queues.queue("turns-outgoing") == []


def test_names_and_decoding():
    assert source_queue("intent-order-status-poison") == "intent-order-status"
    assert is_poison_queue("turns-incoming-poison") and not is_poison_queue("turns-incoming")
    assert not is_poison_queue("-poison") and not is_poison_queue("Bad--name-poison")
    with pytest.raises(ValueError):
        source_queue("turns-incoming")
    assert decode_text(base64.b64encode("héllo".encode()).decode()) == "héllo"
    assert decode_text("{not base64}") == "{not base64}"
    assert decode_text(base64.b64encode(b"\xff\xfe").decode()) == base64.b64encode(b"\xff\xfe").decode()


def test_make_queues_picks_storage_with_a_connection_string_and_the_twin_without():
    assert isinstance(make_poison_queues(make_settings()), MemoryPoisonQueues)
    connection = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                  "QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;")
    assert isinstance(make_poison_queues(make_settings(storage=storage_account(connection))), StoragePoisonQueues)
