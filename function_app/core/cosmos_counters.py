"""Rate-limit counts in Cosmos DB (`core.ratelimit.Counters`): one small document per key, shared by
every instance and worker process, so a limit holds however far the function app scales out.

A count is read, then created or replaced with its ETag (If-Match); a write that lost to another is
read again, a few times. Each document expires (TTL) a while after its window ends, so idle keys
cost nothing (the local stand-in keeps them: it has no TTL expiry; a key's one document is reused
window after window).
"""
from __future__ import annotations

import math

from azure.core import MatchConditions
from azure.cosmos import exceptions

from core.transport import azure_transport
from switchboard.cosmos import COUNTERS, container, open_database, read, translated
from switchboard.errors import ConflictError

ATTEMPTS = 8


class CosmosCounters:
    def __init__(self, container) -> None:
        self._c = container

    @classmethod
    def open(cls, endpoint: str, key: str, database: str, transport: str = "fast") -> CosmosCounters:
        """Opens the database and the container (creating them if missing; TTL on, per document)."""
        with translated(f"opening database {database}"):
            db = open_database(endpoint, key, database, azure_transport(transport))
            return cls(container(db, COUNTERS, default_ttl=-1))

    def take(self, key: str, window: float, limit: int, seconds: float) -> bool:
        for _ in range(ATTEMPTS):
            doc = read(self._c, key, key, f"reading rate count {key}")
            count = doc["count"] if doc is not None and doc.get("window") == window else 0
            if count >= limit:
                return False
            new = {"id": key, "window": window, "count": count + 1, "ttl": math.ceil(seconds) + 60}
            with translated(f"counting {key}"):
                try:
                    if doc is None:
                        self._c.create_item(new)
                    else:
                        self._c.replace_item(key, new, etag=doc["_etag"],
                                             match_condition=MatchConditions.IfNotModified)
                    return True
                except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError):
                    continue  # another request counted first: read again
        raise ConflictError(f"rate count {key} changed under {ATTEMPTS} attempts in a row")
