"""Cosmos DB adapters: conversations (one document each, ETag-guarded), the turn log, the outbox, and
the catalogue's routes and replies (which the admin site writes).

Every SDK error is translated into the pipeline's own: throttling (429), timeouts, 449 and 5xx, and
calls that got no answer at all, are transient; any other refusal (a bad request, a wrong key, a
document over the size limit) is permanent.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import CosmosClient, PartitionKey, exceptions

from core.catalogue import Catalogue
from core.connections import cosmos_credential
from core.conversation import Conversation
from core.envelope import Envelope
from core.errors import ConflictError, PermanentError, TransientError, is_transient_status
from core.stores import turn_document
from core.transport import azure_transport

CONVERSATIONS, TURNS, OUTBOX = "conversations", "turns", "outbox"
CATALOGUE = "catalogue"  # partitioned by /kind: "intent", "replies", "entity", "qna", ... (admin_site)


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Cosmos DB's and azure-core's errors as TransientError or PermanentError, naming `what`."""
    try:
        yield
    except AzureError as e:
        status = getattr(e, "status_code", None)
        error = TransientError if is_transient_status(status) else PermanentError
        answer = f"answered {status}" if status is not None else "did not answer"
        raise error(f"Cosmos DB {answer} to {what}: {getattr(e, 'reason', None) or type(e).__name__}") from e


class CosmosStores:
    """Opens the database and its three containers (creating them if missing) once per worker."""

    def __init__(self, endpoint: str, key: str, database: str, transport: str = "fast") -> None:
        # Endpoint discovery off: the configured endpoint is the one to write to (single-region
        # writes); it also keeps the local stand-in, which advertises https endpoints, on plain HTTP.
        with translated(f"opening database {database}"):  # the client reads the account at once
            db = open_database(endpoint, key, database, transport)
            self.conversations = CosmosConversationStore(_container(db, CONVERSATIONS, "/id"))
            self.turns = CosmosTurnLog(_container(db, TURNS, "/conversation_id"))
            self.outbox = CosmosOutbox(_container(db, OUTBOX, "/conversation_id"))
            self.catalogue = CosmosCatalogue(_container(db, CATALOGUE, "/kind"))


def open_database(endpoint: str, key: str, database: str, transport: str = "fast"):
    """The database (created if missing, where the credential may): with its key, or with Entra ID
    when `key` is empty (on Azure the template creates the database and containers, which the data
    plane's roles cannot)."""
    client = CosmosClient(endpoint, cosmos_credential(key), enable_endpoint_discovery=False, connection_timeout=5,
                          transport=azure_transport(transport))
    return _created(lambda: client.create_database_if_not_exists(database),
                    lambda: client.get_database_client(database))


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


def _read(container, item_id: str, partition: str, what: str) -> dict[str, Any] | None:
    """A point read; None when there is no such document."""
    with translated(what):
        try:
            return container.read_item(item_id, partition_key=partition)
        except exceptions.CosmosResourceNotFoundError:
            return None


class CosmosConversationStore:
    def __init__(self, container) -> None:
        self._c = container

    def load(self, conversation_id: str) -> Conversation | None:
        doc = _read(self._c, conversation_id, conversation_id, f"reading conversation {conversation_id}")
        return Conversation.from_doc(doc) if doc is not None else None

    def save(self, conversation: Conversation) -> Conversation:
        doc = conversation.to_doc()
        with translated(f"saving conversation {conversation.id}"):
            try:
                if conversation.etag is None:
                    saved = self._c.create_item(doc)
                else:
                    saved = self._c.replace_item(conversation.id, doc, etag=conversation.etag,
                                                 match_condition=MatchConditions.IfNotModified)
            except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError) as e:
                raise ConflictError(f"conversation {conversation.id} changed since it was read") from e
        return Conversation.from_doc(saved)


class CosmosTurnLog:
    def __init__(self, container) -> None:
        self._c = container

    def record(self, envelope: Envelope, status: str) -> None:
        with translated(f"logging turn {envelope.turn_id}"):
            self._c.upsert_item(turn_document(envelope, status))

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        return _read(self._c, turn_id, conversation_id, f"reading turn {turn_id}")

    def recent(self, limit: int) -> list[dict[str, Any]]:
        # The stand-in lacks OFFSET/LIMIT; TOP and ORDER BY work on both.
        query = f"SELECT TOP {int(limit)} * FROM c ORDER BY c.received_at DESC"
        with translated("reading the turn log"):
            return list(self._c.query_items(query, enable_cross_partition_query=True))


class CosmosOutbox:
    def __init__(self, container) -> None:
        self._c = container

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        return _read(self._c, turn_id, conversation_id, f"reading the reply to turn {turn_id}")

    def put(self, message: dict[str, Any]) -> None:
        with translated(f"keeping the reply to turn {message['id']}"):
            self._c.upsert_item(message)

    def after(self, conversation_id: str, after: float) -> list[dict[str, Any]]:
        query = ("SELECT * FROM c WHERE c.conversation_id = @c AND c.created > @after "
                 "ORDER BY c.created")
        params = [{"name": "@c", "value": conversation_id}, {"name": "@after", "value": after}]
        with translated(f"reading the replies of conversation {conversation_id}"):
            return list(self._c.query_items(query, parameters=params, partition_key=conversation_id))


class CosmosCatalogue:
    """Reads the two small projections the pipeline needs: each intent's route and each branch's
    reply texts (two single-partition queries; the examples stay where they are)."""

    def __init__(self, container) -> None:
        self._c = container

    def load(self) -> Catalogue:
        with translated("reading the catalogue"):
            # (the stand-in wants the partition key in the filter too; Cosmos DB does not mind)
            routes = {d["name"]: d.get("route") for d in self._c.query_items(
                "SELECT c.name, c.route FROM c WHERE c.kind = 'intent'", partition_key="intent")}
            replies = {d["branch"]: d.get("templates") or {} for d in self._c.query_items(
                "SELECT c.branch, c.templates FROM c WHERE c.kind = 'replies'", partition_key="replies")}
        return Catalogue(routes, replies)
