"""The admin site's storage port: what its stores and readers need from a container of documents.

`documents.CosmosDocuments` and its in-memory twin `documents.MemoryDocuments` implement it and pass one
contract test body (tests/admin_site/test_documents.py); the rest of the site depends on this module only.
Pyright checks it in strict mode (pyrightconfig.json), so the port's types stay exact.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol, TypeAlias

Doc: TypeAlias = dict[str, Any]
# A condition: (field, op, value) with a dotted field ("nlu.intent.name") and op one of
# = != < <= > >= contains (a substring, either case) defined (value True/False); or ("or", [conditions]),
# the only two-element condition.
Condition: TypeAlias = "tuple[str, str, Any] | tuple[Literal['or'], Sequence[Condition]]"
Where: TypeAlias = Iterable[Condition]


class Documents(Protocol):
    """One container: documents keyed by (partition key value, id), each with an `_etag`."""

    def get(self, partition: str, doc_id: str) -> Doc | None: ...

    def save(self, doc: Doc, etag: str | None) -> Doc:
        """Create (etag None: ConflictError if it exists) or replace (ConflictError unless `etag` is current)."""
        ...

    def upsert(self, doc: Doc) -> Doc: ...

    def delete(self, partition: str, doc_id: str, etag: str | None = None) -> None:
        """Remove it (with an etag: only if unchanged). Removing what is not there is no error."""
        ...

    def find(self, where: Where = (), partition: str | None = None, order_by: str | None = None,
             descending: bool = False, top: int | None = None) -> list[Doc]:
        """Documents matching every condition of `where`, ordered, at most `top` of them."""
        ...

    def count(self, where: Where = (), partition: str | None = None) -> int: ...
