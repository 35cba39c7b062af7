"""Storage queue adapter. Messages are base64 text, as the Functions host's queue trigger expects."""
from __future__ import annotations

import threading

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from core.transport import azure_transport
from switchboard.connections import StorageAccount, storage_account
from switchboard.errors import PermanentError, TransientError, is_transient_status


class StorageQueues:
    """One QueueClient per queue, made on first use; a queue missing on first send is created."""

    def __init__(self, connection: str | StorageAccount, transport: str = "fast") -> None:
        self._account, self._transport = storage_account(connection), transport
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    def _client(self, queue: str) -> QueueClient:
        with self._lock:
            if queue not in self._clients:
                self._clients[queue] = self._account.queue(
                    queue, message_encode_policy=TextBase64EncodePolicy(),
                    transport=azure_transport(self._transport))
            return self._clients[queue]

    def send(self, queue: str, text: str) -> None:
        client = self._client(queue)
        try:
            try:
                client.send_message(text)
            except ResourceNotFoundError:
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                client.send_message(text)
        except AzureError as e:
            status = getattr(e, "status_code", None)
            error = TransientError if is_transient_status(status) else PermanentError
            raise error(f"queue {queue}: {type(e).__name__}: {e}") from e
