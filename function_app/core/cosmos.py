"""Cosmos DB adapters: conversations (one document each, ETag-guarded), the turn log, the outbox, and
the catalogue's routes and replies (which the admin site writes). The containers, their partition
keys and the translation of the SDK's errors are `switchboard.cosmos`'s.
"""
from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.cosmos import exceptions

from core.catalogue import Catalogue
from core.conversation import Conversation
from core.transport import azure_transport
from switchboard.cosmos import CATALOGUE, CONVERSATIONS, OUTBOX, TURNS, container, open_database, read, translated
from switchboard.envelope import Envelope
from switchboard.errors import ConflictError
from switchboard.turns import TurnRecord


class CosmosStores:
    """Opens the database and its containers (creating them if missing) once per worker."""

    def __init__(self, endpoint: str, key: str, database: str, transport: str = "fast") -> None:
        with translated(f"opening database {database}"):  # the client reads the account at once
            db = open_database(endpoint, key, database, azure_transport(transport))
            self.conversations = CosmosConversationStore(container(db, CONVERSATIONS))
            self.turns = CosmosTurnLog(container(db, TURNS))
            self.outbox = CosmosOutbox(container(db, OUTBOX))
            self.catalogue = CosmosCatalogue(container(db, CATALOGUE))


class CosmosConversationStore:
    def __init__(self, container) -> None:
        self._c = container

    def load(self, conversation_id: str) -> Conversation | None:
        doc = read(self._c, conversation_id, conversation_id, f"reading conversation {conversation_id}")
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
            self._c.upsert_item(TurnRecord.from_envelope(envelope, status).to_doc())

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        return read(self._c, turn_id, conversation_id, f"reading turn {turn_id}")

    def recent(self, limit: int) -> list[dict[str, Any]]:
        # The stand-in lacks OFFSET/LIMIT; TOP and ORDER BY work on both.
        query = f"SELECT TOP {int(limit)} * FROM c ORDER BY c.received_at DESC"
        with translated("reading the turn log"):
            return list(self._c.query_items(query, enable_cross_partition_query=True))


class CosmosOutbox:
    def __init__(self, container) -> None:
        self._c = container

    def get(self, conversation_id: str, turn_id: str) -> dict[str, Any] | None:
        return read(self._c, turn_id, conversation_id, f"reading the reply to turn {turn_id}")

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
