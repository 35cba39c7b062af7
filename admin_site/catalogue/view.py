"""The catalogue as of one stamp (a document every write changes): each kind read once, and kept
with what is derived from it (duplicates, entity usage, the export), so the pages stay fast with
10,000 examples and replicas see each other's edits at once."""
from __future__ import annotations

import functools
import threading

from admin_site.catalogue.rules import ENTITY, INTENT, duplicates_of, entity_usage, normalise
from admin_site.catalogue.transfer import dump_yaml, export_document
from admin_site.ports import Doc, Documents


class CatalogueView:
    """The catalogue as of one stamp. Each kind is read once, each derived table computed once; a new
    stamp (any write, from any replica) makes a new view."""

    def __init__(self, docs: Documents, stamp: str) -> None:
        self.stamp, self._docs = stamp, docs
        self._kinds: dict[str, list[Doc]] = {}
        self._lock = threading.Lock()

    def all(self, kind: str) -> list[Doc]:
        """Every document of a kind, by id. Shared: read, never change, what it returns."""
        with self._lock:
            if kind in self._kinds:
                return self._kinds[kind]
        found = self._docs.find(partition=kind, order_by="id")
        with self._lock:
            return self._kinds.setdefault(kind, found)

    @functools.cached_property
    def intents(self) -> dict[str, Doc]:
        return {d["name"]: d for d in self.all(INTENT)}

    @functools.cached_property
    def entity_names(self) -> list[str]:
        return [d["id"] for d in self.all(ENTITY)]

    @functools.cached_property
    def duplicates(self) -> dict[str, list[str]]:
        return duplicates_of(self.normalised)

    @functools.cached_property
    def normalised(self) -> dict[str, list[str]]:
        """intent -> its examples, normalised (for search and duplicate checks)."""
        return {d["name"]: [normalise(e) for e in d.get("examples", ())] for d in self.all(INTENT)}

    @functools.cached_property
    def entity_usage(self) -> dict[str, dict[str, int]]:
        return entity_usage(self.all(INTENT))

    @functools.cached_property
    def export(self) -> tuple[dict, list[str]]:
        """(the data set's document, the utterances left out of it)."""
        return export_document(self.all(INTENT), self.all(ENTITY), self.duplicates)

    @functools.cached_property
    def export_yaml(self) -> str:
        return dump_yaml(self.export[0])
