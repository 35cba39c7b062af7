"""Cosmos DB as every deployable uses it: the containers with their partition keys (the one list the
Bicep template, the function app and the admin site agree on), opening the database, and the SDK's
errors translated into the pipeline's own.

Throttling (429), timeouts, 449 and 5xx, and calls that got no answer at all, are transient; any
other refusal (a bad request, a wrong key, a document over the size limit) is permanent.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from switchboard.connections import cosmos_credential
from switchboard.errors import PermanentError, TransientError, is_transient_status

# The function app's containers
CONVERSATIONS = "conversations"  # one document per conversation, ETag-guarded
TURNS = "turns"  # the turn log: switchboard.turns.TurnRecord
OUTBOX = "outbox"  # every reply sent, by turn
CATALOGUE = "catalogue"  # what admins curate, by kind: "intent", "replies", "entity", "qna", "meta"
COUNTERS = "ratelimits"  # the web chat's rate counts (TTL per document)
# The admin site's own
USERS, THROTTLE, AUDIT, ROLLUPS = "users", "throttle", "audit", "rollups"

PARTITION_KEYS = {
    CONVERSATIONS: "/id", TURNS: "/conversation_id", OUTBOX: "/conversation_id", CATALOGUE: "/kind",
    COUNTERS: "/id", USERS: "/id", THROTTLE: "/id", AUDIT: "/day", ROLLUPS: "/kind",
}


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Cosmos DB's and azure-core's errors as TransientError or PermanentError, naming `what`."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as e:
        status = getattr(e, "status_code", None)
        error = TransientError if is_transient_status(status) else PermanentError
        answer = f"answered {status}" if status is not None else "did not answer"
        raise error(f"Cosmos DB {answer} to {what}: {getattr(e, 'reason', None) or type(e).__name__}") from e


def open_database(endpoint: str, key: str, database: str, transport: Any = None):
    """The database (created if missing, where the credential may): with its key, or with Entra ID
    when `key` is empty (on Azure the template creates the database and containers, which the data
    plane's roles cannot). Endpoint discovery off: the configured endpoint is the one to write to
    (single-region writes); it also keeps the local stand-in, which advertises https endpoints, on
    plain HTTP. `transport`: an azure-core transport (None: the SDK's own)."""
    from azure.cosmos import CosmosClient

    options = {"transport": transport} if transport is not None else {}
    client = CosmosClient(endpoint, cosmos_credential(key), enable_endpoint_discovery=False, connection_timeout=5,
                          **options)
    return created(lambda: client.create_database_if_not_exists(database),
                   lambda: client.get_database_client(database))


def container(db, name: str, **options: Any):
    """One of the containers above, with its partition key (created if missing)."""
    from azure.cosmos import PartitionKey

    return created(lambda: db.create_container_if_not_exists(name, PartitionKey(PARTITION_KEYS[name]), **options),
                   lambda: db.get_container_client(name))


def created(create: Callable[[], Any], existing: Callable[[], Any]) -> Any:
    """`*_if_not_exists` reads, then creates: another worker or instance starting at the same moment
    can create it in between, and the create then answers 409. It exists either way."""
    from azure.cosmos import exceptions

    try:
        return create()
    except exceptions.CosmosResourceExistsError:
        return existing()


def read(container, item_id: str, partition: str, what: str) -> dict[str, Any] | None:
    """A point read; None when there is no such document."""
    from azure.cosmos import exceptions

    with translated(what):
        try:
            return container.read_item(item_id, partition_key=partition)
        except exceptions.CosmosResourceNotFoundError:
            return None
