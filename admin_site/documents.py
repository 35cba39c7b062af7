"""The admin site's storage: documents with ETags, by container, in Cosmos DB or in memory (the
`ports.Documents` port's two implementations).

Every container the admin site writes is a set of JSON documents keyed by (partition, id) and read
and written with optimistic concurrency: a save names the ETag its document was read with, and a
document changed meanwhile is a `ConflictError` carrying the stored version (so a page can show both and
who changed it). `CosmosDocuments` and `MemoryDocuments` pass one contract test body
(tests/admin_site/test_documents.py).
"""
from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import PartitionKey, exceptions

from admin_site.ports import Condition, Doc, Where
from switchboard.cosmos import translated
from switchboard.errors import ConflictError

OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _strip(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_") or k == "_etag"}


class CosmosDocuments:
    def __init__(self, database, name: str, partition_key: str) -> None:
        with translated(f"opening container {name}"):
            try:
                self._c = database.create_container_if_not_exists(name, PartitionKey(partition_key))
            except exceptions.CosmosResourceExistsError:  # created by another process meanwhile
                self._c = database.get_container_client(name)
        self.name, self._key = name, partition_key.strip("/")

    def get(self, partition: str, doc_id: str) -> Doc | None:
        with translated(f"reading {self.name}/{doc_id}"):
            try:
                return _strip(self._c.read_item(doc_id, partition_key=partition))
            except exceptions.CosmosResourceNotFoundError:
                return None

    def save(self, doc: Doc, etag: str | None) -> Doc:
        body = {k: v for k, v in doc.items() if not k.startswith("_")}
        with translated(f"saving {self.name}/{body['id']}"):
            try:
                if etag is None:
                    return _strip(self._c.create_item(body))
                return _strip(self._c.replace_item(body["id"], body, etag=etag,
                                                   match_condition=MatchConditions.IfNotModified))
            except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError,
                    exceptions.CosmosResourceNotFoundError) as e:
                lost = e
        raise ConflictError(current=self.get(body[self._key], body["id"])) from lost

    def upsert(self, doc: Doc) -> Doc:
        with translated(f"saving {self.name}/{doc['id']}"):
            return _strip(self._c.upsert_item({k: v for k, v in doc.items() if not k.startswith("_")}))

    def delete(self, partition: str, doc_id: str, etag: str | None = None) -> None:
        condition = {} if etag is None else {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        with translated(f"deleting {self.name}/{doc_id}"):
            try:
                self._c.delete_item(doc_id, partition_key=partition, **condition)
                return
            except exceptions.CosmosResourceNotFoundError:
                return
            except exceptions.CosmosAccessConditionFailedError as e:
                lost = e
        raise ConflictError(current=self.get(partition, doc_id)) from lost

    def find(self, where: Where = (), partition: str | None = None, order_by: str | None = None,
             descending: bool = False, top: int | None = None) -> list[Doc]:
        head = f"SELECT TOP {int(top)} *" if top is not None else "SELECT *"
        sql, params = self._sql(head, where, partition)
        if order_by:
            sql += f" ORDER BY c.{_field(order_by)} {'DESC' if descending else 'ASC'}"
        return [_strip(d) for d in self._query(sql, params, partition)]

    def count(self, where: Where = (), partition: str | None = None) -> int:
        sql, params = self._sql("SELECT VALUE COUNT(1)", where, partition)
        return int(next(iter(self._query(sql, params, partition)), 0))

    def _sql(self, head: str, where: Where, partition: str | None) -> tuple[str, list[dict]]:
        params: list[dict] = []
        conditions = list(where)
        if partition is not None:  # the stand-in wants the partition key in the filter too
            conditions.append((self._key, "=", partition))
        clauses = [_clause(c, params) for c in conditions]
        return head + " FROM c" + (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _query(self, sql: str, params: list[dict], partition: str | None) -> list:
        scope = {"partition_key": partition} if partition is not None else {"enable_cross_partition_query": True}
        with translated(f"querying {self.name}"):
            return list(self._c.query_items(sql, parameters=params, **scope))


def _field(name: str) -> str:
    if not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(f"not a field name: {name!r}")
    return name


def _clause(condition: Condition, params: list[dict]) -> str:
    if len(condition) == 2:  # ("or", [conditions])
        return "(" + " OR ".join(_clause(c, params) for c in condition[1]) + ")"
    name, op, value = condition
    field = "c." + _field(name)
    if op == "defined":
        return f"IS_DEFINED({field})" if value else f"NOT IS_DEFINED({field})"
    params.append({"name": f"@p{len(params)}", "value": value})
    if op == "contains":
        return f"CONTAINS(LOWER({field}), LOWER(@p{len(params) - 1}))"
    return f"{field} {OPS[op]} @p{len(params) - 1}"


_MISSING = object()


def _value(doc: Doc, name: str) -> Any:  # the field's value, or _MISSING
    value: Any = doc
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def matches(doc: Doc, condition: Condition) -> bool:
    """What Cosmos DB's SQL makes of a condition, in Python: comparing with an absent field is false."""
    if len(condition) == 2:  # ("or", [conditions])
        return any(matches(doc, c) for c in condition[1])
    name, op, expected = condition
    value = _value(doc, name)
    if op == "defined":
        return (value is not _MISSING) == bool(expected)
    if value is _MISSING:
        return False
    if op == "contains":
        return isinstance(value, str) and str(expected).lower() in value.lower()
    if op in ("=", "!="):
        return (value == expected) == (op == "=")
    try:
        return {"<": value < expected, "<=": value <= expected, ">": value > expected, ">=": value >= expected}[op]
    except TypeError:  # Cosmos DB compares only values of one type
        return False


class MemoryDocuments:
    """The in-memory twin: the same conditions, evaluated in Python (`matches`)."""

    def __init__(self, name: str, partition_key: str) -> None:
        self.name, self._key = name, partition_key.strip("/")
        self._docs: dict[tuple[str, str], Doc] = {}
        self._lock = threading.Lock()

    def get(self, partition: str, doc_id: str) -> Doc | None:
        with self._lock:
            return copy.deepcopy(self._docs.get((partition, doc_id)))

    def save(self, doc: Doc, etag: str | None) -> Doc:
        body = {k: v for k, v in doc.items() if not k.startswith("_")}
        key = (body[self._key], body["id"])
        with self._lock:
            current = self._docs.get(key)
            current_etag = None if current is None else current["_etag"]
            if etag != current_etag:  # None on both sides: a new document that is still absent
                raise ConflictError(current=copy.deepcopy(current))
            stored = self._docs[key] = {**copy.deepcopy(body), "_etag": uuid.uuid4().hex}
            return copy.deepcopy(stored)

    def upsert(self, doc: Doc) -> Doc:
        body = {k: v for k, v in doc.items() if not k.startswith("_")}
        with self._lock:
            stored = self._docs[(body[self._key], body["id"])] = {**copy.deepcopy(body), "_etag": uuid.uuid4().hex}
            return copy.deepcopy(stored)

    def delete(self, partition: str, doc_id: str, etag: str | None = None) -> None:
        with self._lock:
            current = self._docs.get((partition, doc_id))
            if current is None:
                return
            if etag is not None and current["_etag"] != etag:
                raise ConflictError(current=copy.deepcopy(current))
            del self._docs[(partition, doc_id)]

    def find(self, where: Where = (), partition: str | None = None, order_by: str | None = None,
             descending: bool = False, top: int | None = None) -> list[Doc]:
        where = list(where)
        with self._lock:  # filter and sort the stored documents; copy only what is returned
            found = [d for (p, _), d in self._docs.items()
                     if (partition is None or p == partition) and all(matches(d, c) for c in where)]
            if order_by:
                found = [d for d in found if _value(d, order_by) is not _MISSING]
                found.sort(key=lambda d: _value(d, order_by), reverse=descending)
            return [copy.deepcopy(d) for d in (found[:top] if top is not None else found)]

    def count(self, where: Where = (), partition: str | None = None) -> int:
        return len(self.find(where, partition))
