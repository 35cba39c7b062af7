"""Storage queue adapter. Messages are base64 text, as the Functions host's queue trigger expects."""
from __future__ import annotations

import threading

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from core.transport import azure_transport

TURNS_INCOMING = "turns-incoming"
TURNS_OUTGOING = "turns-outgoing"


def poison_queue(queue: str) -> str:
    return f"{queue}-poison"


class StorageQueues:
    """One QueueClient per queue, made on first use; a queue missing on first send is created."""

    def __init__(self, connection_string: str) -> None:
        self._conn = connection_string
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    def _client(self, queue: str) -> QueueClient:
        with self._lock:
            if queue not in self._clients:
                self._clients[queue] = QueueClient.from_connection_string(
                    self._conn, queue, message_encode_policy=TextBase64EncodePolicy(),
                    transport=azure_transport())
            return self._clients[queue]

    def send(self, queue: str, text: str) -> None:
        client = self._client(queue)
        try:
            client.send_message(text)
        except ResourceNotFoundError:
            try:
                client.create_queue()
            except ResourceExistsError:
                pass
            client.send_message(text)
