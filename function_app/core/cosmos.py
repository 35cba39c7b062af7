"""Cosmos DB adapters: conversations (one document each, ETag-guarded), the turn log, the outbox."""
from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.cosmos import CosmosClient, PartitionKey, exceptions

from core.conversation import Conversation
from core.envelope import Envelope
from core.errors import ConflictError, TransientError
from core.stores import turn_document
from core.transport import azure_transport

CONVERSATIONS, TURNS, OUTBOX = "conversations", "turns", "outbox"
_TRANSIENT = (408, 429, 449, 500, 502, 503)


def _transient(e: exceptions.CosmosHttpResponseError) -> Exception:
    if e.status_code in _TRANSIENT:
        return TransientError(f"Cosmos DB answered {e.status_code}: {e.reason}")
    return e


class CosmosStores:
    """Opens the database and its three containers (creating them if missing) once per worker."""

    def __init__(self, endpoint: str, key: str, database: str) -> None:
        # Endpoint discovery off: the configured endpoint is the one to write to (single-region
        # writes); it also keeps the local stand-in, which advertises https endpoints, on plain HTTP.
        client = CosmosClient(endpoint, key, enable_endpoint_discovery=False, connection_timeout=5,
                              transport=azure_transport())
        db = _created(lambda: client.create_database_if_not_exists(database),
                      lambda: client.get_database_client(database))
        self.conversations = CosmosConversationStore(_container(db, CONVERSATIONS, "/id"))
        self.turns = CosmosTurnLog(_container(db, TURNS, "/conversation_id"))
        self.outbox = CosmosOutbox(_container(db, OUTBOX, "/conversation_id"))


def _created(create, existing):
    """`*_if_not_exists` reads, then creates: another worker or instance starting at the same moment
    can create it in between, and the create then answers 409. It exists either way."""
    try:
        return create()
    except exceptions.CosmosResourceExistsError:
        return existing()


def _container(db, name: str, partition_key: str):
    return _created(lambda: db.create_container_if_not_exists(name, PartitionKey(partition_key)),
                    lambda: db.get_container_client(name))


class CosmosConversationStore:
    def __init__(self, container) -> None:
        self._c = container

    def load(self, conversation_id: str) -> Conversation | None:
        try:
            return Conversation.from_doc(self._c.read_item(conversation_id, partition_key=conversation_id))
        except exceptions.CosmosResourceNotFoundError:
            return None
        except exceptions.CosmosHttpResponseError as e:
            raise _transient(e) from e

    def save(self, conversation: Conversation) -> Conversation:
        doc = conversation.to_doc()
        try:
            if conversation.etag is None:
                saved = self._c.create_item(doc)
            else:
                saved = self._c.replace_item(conversation.id, doc, etag=conversation.etag,
                                             match_condition=MatchConditions.IfNotModified)
        except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError) as e:
            raise ConflictError(f"conversation {conversation.id} changed since it was read") from e
        except exceptions.CosmosHttpResponseError as e:
            raise _transient(e) from e
        return Conversation.from_doc(saved)


class CosmosTurnLog:
    def __init__(self, container) -> None:
        self._c = container

    def record(self, envelope: Envelope, status: str) -> None:
        try:
            self._c.upsert_item(turn_document(envelope, status))
        except exceptions.CosmosHttpResponseError as e:
            raise _transient(e) from e

    def recent(self, limit: int) -> list[dict[str, Any]]:
        # The stand-in lacks OFFSET/LIMIT; TOP and ORDER BY work on both.
        query = f"SELECT TOP {int(limit)} * FROM c ORDER BY c.received_at DESC"
        return list(self._c.query_items(query, enable_cross_partition_query=True))


class CosmosOutbox:
    def __init__(self, container) -> None:
        self._c = container

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        try:
            return self._c.read_item(turn_id, partition_key=conversation_id)
        except exceptions.CosmosResourceNotFoundError:
            return None
        except exceptions.CosmosHttpResponseError as e:
            raise _transient(e) from e

    def put(self, message: dict[str, Any]) -> None:
        try:
            self._c.upsert_item(message)
        except exceptions.CosmosHttpResponseError as e:
            raise _transient(e) from e

    def after(self, conversation_id: str, after: float) -> list[dict[str, Any]]:
        query = ("SELECT * FROM c WHERE c.conversation_id = @c AND c.created > @after "
                 "ORDER BY c.created")
        params = [{"name": "@c", "value": conversation_id}, {"name": "@after", "value": after}]
        return list(self._c.query_items(query, parameters=params, partition_key=conversation_id))
