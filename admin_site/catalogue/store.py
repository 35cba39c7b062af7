"""The catalogue that admins curate, over its Cosmos DB container (`catalogue`, partitioned by
`kind`); the function app reads the routes and replies from it.

Every save names the ETag its document was read with: a document changed meanwhile is a
`ConflictError` with the stored version (and who saved it), never a silent overwrite. What cannot be
used is refused at save time with the reason (`rules`): an intent routed to a branch that does not
exist, a template that names a slot its branch does not fill, an annotation that does not parse or
names an unknown entity. Reads go through a `CatalogueView` of the latest stamp.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from admin_site.catalogue.rules import (
    ENTITY,
    INTENT,
    MAX_EXAMPLES,
    META,
    OOS,
    QNA,
    REPLIES,
    Invalid,
    example_problems,
    intent_doc,
    intent_in_use,
    name_problem,
    normalise,
    short,
    strip_entity,
    synonym_problems,
    unique,
)
from admin_site.catalogue.transfer import ImportSummary, plan_import
from admin_site.catalogue.view import CatalogueView
from admin_site.ports import Doc, Documents
from nlu import dataset
from switchboard.branches import Branches
from switchboard.errors import ConflictError
from switchboard.templates import template_problems

RETRIES = 10  # read-modify-write rounds before a merge (import, entity removal) gives up


class CatalogueStore:
    """The catalogue over a `Documents` container, checked against the function app's branches."""

    def __init__(self, docs: Documents, branches: Branches) -> None:
        self.docs, self.branches = docs, branches
        self._view: CatalogueView | None = None
        self._lock = threading.Lock()

    def stamp(self) -> str:
        doc = self.docs.get(META, "stamp")
        return doc["value"] if doc else ""

    def view(self) -> CatalogueView:
        """The catalogue as it is now: one point read of the stamp, the rest from memory when unchanged."""
        stamp = self.stamp()
        with self._lock:
            if not (stamp and self._view is not None and self._view.stamp == stamp):
                self._view = CatalogueView(self.docs, stamp)
            return self._view

    def all(self, kind: str) -> list[Doc]:
        return self.view().all(kind)

    def get(self, kind: str, doc_id: str) -> Doc | None:
        return self.docs.get(kind, doc_id)

    def entity_names(self) -> list[str]:
        return self.view().entity_names

    def default_route(self, intent: str) -> str | None:
        """The route of an intent nobody routed: the code's (the function app's `core.routing.ROUTES`, as
        the branch manifest has them); out-of-scope has none."""
        return None if intent == OOS else self.branches.routes.get(intent)

    # ---- writing -------------------------------------------------------------------------------
    def _saved(self, doc: Doc, etag: str | None, by: str, touch: bool = True) -> Doc:
        saved = self.docs.save({**doc, "updated_by": by, "updated_at": time.time()}, etag)
        if touch:
            self._touch()
        return saved

    def _touch(self) -> None:
        self.docs.upsert({"id": "stamp", "kind": META, "value": uuid.uuid4().hex})

    def delete(self, kind: str, doc_id: str, etag: str | None) -> None:
        self.docs.delete(kind, doc_id, etag)
        self._touch()

    def intent_problems(self, name: str, examples: list[str], route: str | None) -> list[str]:
        problems = [p for p in (name_problem(name),) if p]
        known_entities = set(self.entity_names())
        for i, raw in enumerate(examples, 1):
            problems += [f"example {i} ({short(raw)}): {p}" for p in example_problems(raw, known_entities)]
        if len(examples) > MAX_EXAMPLES:
            problems.append(f"{len(examples)} examples; an intent holds at most {MAX_EXAMPLES}")
        if route is not None and route not in self.branches.templates:
            problems.append(f"there is no branch {route!r} (the branches are: "
                            f"{', '.join(sorted(self.branches.templates))})")
        if name == OOS and route is not None:
            problems.append("out-of-scope examples have no route")
        return problems

    def save_intent(self, name: str, examples: list[str], route: str | None, etag: str | None, by: str,
                    description: str = "") -> Doc:
        if problems := self.intent_problems(name, examples, route):
            raise Invalid(problems)
        return self._saved(intent_doc(name, examples, route, description), etag, by)

    def rename_intent(self, old: str, new: str, etag: str, by: str) -> Doc:
        """A new document under the new name, then the old one removed (with its ETag: if it changed
        meanwhile, the new one is removed again and the caller sees the conflict)."""
        if new == old:
            raise Invalid([f"the intent is already called {old!r}"])
        if problem := name_problem(new):
            raise Invalid([problem])
        current = self.get(INTENT, old)
        if current is None or current["_etag"] != etag:
            raise ConflictError(current=current)
        if self.get(INTENT, new) is not None:
            raise Invalid([f"there is already an intent {new!r}"])
        try:
            saved = self.save_intent(new, current.get("examples", []), current.get("route"), None, by,
                                     current.get("description", ""))
        except ConflictError:
            raise Invalid([f"there is already an intent {new!r}"]) from None
        try:
            self.docs.delete(INTENT, old, etag)
        except ConflictError:
            self.docs.delete(INTENT, new, saved["_etag"])
            self._touch()
            raise
        self._touch()
        return saved

    def delete_intent(self, name: str, etag: str | None, confirmed: bool = False) -> Doc:
        """Remove an intent; refused with the reasons while it has examples or a route, unless confirmed."""
        current = self.get(INTENT, name)
        if current is None or (etag is not None and current["_etag"] != etag):
            raise ConflictError(current=current)
        reasons = intent_in_use(current)
        if reasons and not confirmed:
            raise Invalid([f"{name} is still in use: {'; '.join(reasons)}. Tick the box to delete it anyway."])
        self.delete(INTENT, name, current["_etag"])
        return current

    def update_intent(self, name: str, change: Callable[[Doc | None], Doc | None], by: str,
                      touch: bool = True) -> Doc | None:
        """Read, change, save with the ETag; again when another save came first. `change` returns the new
        document, or None when there is nothing to change. For merges that cannot lose: adding examples."""
        for _ in range(RETRIES):
            current = self.get(INTENT, name)
            new = change(current)
            if new is None:
                return current
            try:
                return self._saved(new, current["_etag"] if current else None, by, touch)
            except ConflictError:
                continue
        raise RuntimeError(f"intent {name} kept changing; try again")

    def add_example(self, intent: str, raw: str, by: str) -> None:
        """Add one example to an intent (created if missing: the review queue's relabel)."""
        if problems := [p for p in (name_problem(intent),) if p] + example_problems(raw, self.entity_names()):
            raise Invalid(problems)

        def add(current: Doc | None) -> Doc | None:
            examples = (current or {}).get("examples", [])
            if normalise(raw) in {normalise(e) for e in examples}:
                return None
            if len(examples) >= MAX_EXAMPLES:
                raise Invalid([f"{intent} already holds {MAX_EXAMPLES} examples, the most an intent holds"])
            route = current.get("route") if current else self.default_route(intent)
            return intent_doc(intent, examples + [raw], route, (current or {}).get("description", ""))

        self.update_intent(intent, add, by)

    def save_entity(self, name: str, synonyms: dict[str, list[str]], lookups: list[str], etag: str | None,
                    by: str) -> Doc:
        problems = [p for p in (name_problem(name, "an entity"),) if p] + synonym_problems(synonyms)
        if problems:
            raise Invalid(problems)
        doc = {"id": name, "kind": ENTITY, "name": name,
               "synonyms": {v.strip(): unique(a.strip() for a in alts) for v, alts in synonyms.items()},
               "lookups": unique([v.strip() for v in lookups if v.strip()])}
        return self._saved(doc, etag, by)

    def delete_entity(self, name: str, etag: str | None, by: str, confirmed: bool = False) -> int:
        """Remove an entity. While examples annotate it this is refused with where, unless confirmed:
        then their annotations of it go too (the words stay). Returns the examples changed."""
        current = self.get(ENTITY, name)
        if current is None or (etag is not None and current["_etag"] != etag):
            raise ConflictError(current=current)
        usage = self.view().entity_usage.get(name, {})
        if usage and not confirmed:
            where = ", ".join(f"{intent} ({count})" for intent, count in sorted(usage.items()))
            count = sum(usage.values())
            said = f"{count} examples annotate" if count != 1 else "1 example annotates"
            raise Invalid([f"{said} {name}, in {where}. Tick the box to delete it anyway: their "
                           f"[value]({name}) annotations become plain words."])
        self.delete(ENTITY, name, current["_etag"])

        def strip(doc: Doc | None) -> Doc | None:
            if doc is None:
                return None
            examples = [strip_entity(raw, name) for raw in doc.get("examples", [])]
            if examples == doc.get("examples", []):
                return None
            return intent_doc(doc["name"], examples, doc.get("route"), doc.get("description", ""))

        try:
            for intent in usage:
                self.update_intent(intent, strip, by, touch=False)
        finally:
            self._touch()
        return sum(usage.values())

    def save_replies(self, branch: str, templates: dict[str, str], etag: str | None, by: str) -> Doc:
        known = self.branches.templates
        if branch not in known:
            raise Invalid([f"there is no branch {branch!r}"])
        problems = []
        for key, text in templates.items():
            if key not in known[branch]:
                problems.append(f"{branch} has no reply {key!r}")
            else:
                problems += [f"{key}: {p}" for p in template_problems(text, known[branch][key].slots)]
        if problems:
            raise Invalid(problems)
        return self._saved({"id": branch, "kind": REPLIES, "branch": branch, "templates": templates}, etag, by)

    def save_qna(self, pair_id: str | None, questions: list[str], answer: str, etag: str | None, by: str) -> Doc:
        questions = unique([q.strip() for q in questions if q.strip()])
        problems = [] if questions else ["a pair needs at least one question"]
        if not answer.strip():
            problems.append("the answer is empty")
        if problems:
            raise Invalid(problems)
        pair_id = pair_id or f"qna-{uuid.uuid4().hex[:10]}"
        return self._saved({"id": pair_id, "kind": QNA, "questions": questions, "answer": answer.strip()}, etag, by)

    # ---- a data set, merged in ------------------------------------------------------------------
    def import_dataset(self, data: dataset.Dataset, lookups: dict[str, list[str]], by: str) -> ImportSummary:
        """Merge a data set in: examples added to their intents (created with the code's default route
        when missing), entities, synonyms and lookup values added; nothing removed. Utterances the
        catalogue already has, in any intent, are skipped. Everything is checked before anything is
        written (`transfer.plan_import`); then one save per entity and per intent, and one stamp."""
        view = self.view()
        plan = plan_import(view.intents, view.entity_names, view.normalised, data, lookups)
        try:
            for name in plan.entities:
                self._merge_entity(name, data.synonyms.get(name, {}), lookups.get(name, []), by, plan.summary)
            for intent, fresh in plan.examples.items():
                self._merge_examples(intent, fresh, by, plan.summary)
        finally:  # what was written is seen, even when a write failed half-way
            self._touch()
        return plan.summary

    def _merge_entity(self, name: str, table: dict[str, str], lookups: list[str], by: str,
                      summary: ImportSummary) -> None:
        for _ in range(RETRIES):
            current = self.get(ENTITY, name)
            synonyms = {v: list(a) for v, a in (current or {}).get("synonyms", {}).items()}
            taken = {alt.lower() for alts in synonyms.values() for alt in alts}
            added = 0
            for alt, value in table.items():
                if alt.lower() not in taken:
                    synonyms.setdefault(value, []).append(alt)
                    taken.add(alt.lower())
                    added += 1
            have = (current or {}).get("lookups", [])
            new_lookups = [v for v in unique(v.strip() for v in lookups) if v and v not in have]
            if current is not None and not added and not new_lookups:
                return
            doc = {"id": name, "kind": ENTITY, "name": name, "synonyms": synonyms, "lookups": have + new_lookups}
            try:
                self._saved(doc, current["_etag"] if current else None, by, touch=False)
            except ConflictError:
                continue
            summary.synonyms_added += added
            summary.lookups_added += len(new_lookups)
            if current is None:
                summary.entities_created.append(name)
            return
        raise RuntimeError(f"entity {name} kept changing; try again")

    def _merge_examples(self, intent: str, fresh: list[str], by: str, summary: ImportSummary) -> None:
        added: list[str] = []

        def merge(current: Doc | None) -> Doc | None:
            have = (current or {}).get("examples", [])
            seen = {normalise(e) for e in have}
            added[:] = [raw for raw in fresh if normalise(raw) not in seen]
            if not added:
                return None
            route = current.get("route") if current else self.default_route(intent)
            return intent_doc(intent, have + added, route, (current or {}).get("description", ""))

        before = self.get(INTENT, intent)
        self.update_intent(intent, merge, by, touch=False)
        if added:
            summary.examples_added[intent] = len(added)
            if before is None:
                summary.intents_created.append(intent)


@dataclass(frozen=True)
class Seeded:
    """What seeding wrote."""
    intents: int
    examples: int
    entities: int
    replies: int  # branches whose replies were written
    qna: int


def seed(store: CatalogueStore, data: Path, qna: Path, by: str = "seed") -> Seeded | None:
    """Give an empty catalogue the demo bot: intents, examples and entities of the data set, the
    code's routes and reply texts, the QnA pairs. None, and nothing written, when the catalogue holds
    anything or was seeded before: of two runs at the same moment, the one that claims the seed does it."""
    demo, pairs = dataset.read_project(data), json.loads(qna.read_text(encoding="utf-8"))
    if any(store.all(kind) for kind in (INTENT, ENTITY, REPLIES, QNA)):
        return None
    try:
        store.docs.save({"id": "seeded", "kind": META, "at": time.time()}, etag=None)
    except ConflictError:
        return None
    for name, table in demo.synonyms.items():
        values: dict[str, list[str]] = {}
        for alt, value in table.items():
            values.setdefault(value, []).append(alt)
        store.save_entity(name, values, demo.lookups.get(name, []), None, by)
    by_intent: dict[str, list[str]] = {}
    for example in demo.splits["train"]:
        by_intent.setdefault(example.intent, []).append(dataset.format_annotated(example))
    for name, examples in sorted(by_intent.items()):
        store.save_intent(name, examples, store.default_route(name), None, by)
    replies = {branch: templates for branch, templates in store.branches.templates.items() if templates}
    for branch, templates in replies.items():
        store.save_replies(branch, {k: t.text for k, t in templates.items()}, None, by)
    for pair in pairs:
        store.save_qna(f"qna-{pair['id']}", pair["questions"], pair["answer"], None, by)
    return Seeded(len(by_intent), len(demo.splits["train"]), len(demo.synonyms), len(replies), len(pairs))
