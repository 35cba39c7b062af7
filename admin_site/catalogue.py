"""The catalogue that admins curate: intents (with their examples and route), entities (synonyms and
lookup values), each branch's reply templates, and QnA pairs. One Cosmos DB container, `catalogue`,
partitioned by `kind`; the function app reads the routes and replies from it (core.cosmos).

Every save names the ETag its document was read with: a document changed meanwhile is a
`documents.Conflict` with the stored version (and who saved it), never a silent overwrite. What
cannot be used is refused at save time with the reason: an intent routed to a branch that does not
exist, a template that names a slot its branch does not fill, an annotation that does not parse or
names an unknown entity.

Reads go through a `CatalogueView`: the whole catalogue as of one stamp (a document every write
changes), read once per kind and kept with what is derived from it (duplicates, entity usage, the
export), so the pages stay fast with 10,000 examples and replicas see each other's edits at once.
"""
from __future__ import annotations

import functools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import branches
from admin_site.documents import Conflict, Doc, Documents
from core.catalogue import template_problems
from core.routing import ROUTES
from nlu import dataset

CATALOGUE = "catalogue"
INTENT, ENTITY, REPLIES, QNA, META = "intent", "entity", "replies", "qna", "meta"
OOS = dataset.OOS  # the out-of-scope examples admins collect: an intent training treats specially
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_EXAMPLES = 5000  # per intent: a document stays far below Cosmos DB's 2 MB
RETRIES = 10  # read-modify-write rounds before a merge (import, entity removal) gives up


class Invalid(ValueError):
    """What an admin entered cannot be saved; `problems` name each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# ---- the rules, over plain data ------------------------------------------------------------------

def name_problem(name: str, what: str = "an intent") -> str | None:
    if not INTENT_NAME.match(name or ""):
        return (f"{what} name is a lower-case letter, then up to 63 lower-case letters, digits or "
                f"underscores (like order_status); got {name!r}")
    return None


def example_problems(raw: str, entities: Iterable[str]) -> list[str]:
    """Why an annotated example (`where is [A-1234](order_id)`) cannot be saved."""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON "\ud800" escape: not text
        return ["the example holds a character that is not valid Unicode text"]
    try:
        text, spans = dataset.parse_annotated(raw)
    except ValueError as e:
        return [str(e)]
    if not text.strip():
        return ["the example is empty"]
    known = entities if isinstance(entities, (set, frozenset)) else set(entities)
    return [f"unknown entity {s.entity!r} (known: {', '.join(sorted(known)) or 'none'})"
            for s in spans if s.entity not in known]


def parse_examples(text: str, entities: Iterable[str]) -> tuple[list[str], list[str]]:
    """A textarea's examples (one a line, blank lines skipped) and each problem named by its line, as the
    page's preview names them."""
    known, examples, problems = set(entities), [], []
    for number, line in enumerate(text.splitlines(), 1):
        raw = line.strip()
        if raw:
            problems += [f"line {number} ({_short(raw)}): {p}" for p in example_problems(raw, known)]
            examples.append(raw)
    return examples, problems


def normalise(raw: str) -> str:
    """The text of an example as duplicates are found: annotations removed, case and spacing folded."""
    text = raw
    if "[" in raw or "]" in raw:
        try:
            text, _ = dataset.parse_annotated(raw)
        except ValueError:
            pass
    return " ".join(text.lower().split())


def duplicates(intents: Iterable[Doc]) -> dict[str, list[str]]:
    """Utterances found in more than one intent: normalised text -> the intents."""
    return duplicates_of({d["name"]: [normalise(e) for e in d.get("examples", ())] for d in intents})


def duplicates_of(normalised: dict[str, list[str]]) -> dict[str, list[str]]:
    """`duplicates`, from each intent's examples already normalised."""
    first: dict[str, str] = {}
    found: dict[str, list[str]] = {}
    for name, texts in normalised.items():
        for text in texts:
            owner = first.setdefault(text, name)
            if owner != name:
                names = found.setdefault(text, [owner])
                if name not in names:
                    names.append(name)
    return found


def segments(raw: str) -> list[tuple[str, str | None]]:
    """An example as the pages show it: (text, entity or None) pieces, each entity span marked."""
    try:
        text, spans = dataset.parse_annotated(raw)
    except ValueError:
        return [(raw, None)]
    out: list[tuple[str, str | None]] = []
    pos = 0
    for s in spans:
        if s.start > pos:
            out.append((text[pos:s.start], None))
        out.append((text[s.start:s.end], s.entity))
        pos = s.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def strip_entity(raw: str, entity: str) -> str:
    """The example without its annotations of `entity` (the words stay): what deleting an entity leaves."""
    try:
        text, spans = dataset.parse_annotated(raw)
    except ValueError:
        return raw
    kept = tuple(s for s in spans if s.entity != entity)
    return raw if len(kept) == len(spans) else dataset.format_annotated(dataset.Example(text, "", kept))


def entity_usage(intents: Iterable[Doc]) -> dict[str, dict[str, int]]:
    """entity -> {intent: how many of its examples annotate it}: what deleting an entity would touch."""
    usage: dict[str, dict[str, int]] = {}
    for intent in intents:
        for raw in intent.get("examples", ()):
            if "](" not in raw:
                continue
            try:
                _, spans = dataset.parse_annotated(raw)
            except ValueError:
                continue
            for entity in {s.entity for s in spans}:
                counts = usage.setdefault(entity, {})
                counts[intent["name"]] = counts.get(intent["name"], 0) + 1
    return usage


def intent_in_use(doc: Doc) -> list[str]:
    """What still uses an intent (its examples train the model, its route sends turns to a branch)."""
    reasons = []
    if count := len(doc.get("examples", ())):
        reasons.append(f"it has {count} example{'s' if count != 1 else ''} that train the model")
    if doc.get("route"):
        reasons.append(f"it routes turns to the {doc['route']} branch")
    return reasons


def diff_examples(mine: list[str], theirs: list[str]) -> tuple[list[str], list[str]]:
    """Examples only in my version, and only in the stored one: what a conflict page shows."""
    mine_set, theirs_set = set(mine), set(theirs)
    return [e for e in mine if e not in theirs_set], [e for e in theirs if e not in mine_set]


def parse_synonyms(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """`blue: navy, cobalt` lines -> {"blue": ["navy", "cobalt"]}, and each problem named by its line."""
    synonyms: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        value, colon, rest = line.partition(":")
        value = value.strip()
        alternatives = [a.strip() for a in rest.split(",") if a.strip()]
        if not colon or not value or not alternatives:
            problems.append(f"line {number} ({_short(line.strip())}): write the value, a colon and its "
                            f"alternatives separated by commas, like 'blue: navy, cobalt'")
            continue
        for alt in alternatives:
            first = owner.setdefault(alt.lower(), value)
            if first != value:
                problems.append(f"line {number}: {alt!r} is already a synonym of {first!r}")
            elif alt not in synonyms.setdefault(value, []):
                synonyms[value].append(alt)
    return synonyms, problems


def format_synonyms(synonyms: dict[str, list[str]]) -> str:
    return "\n".join(f"{value}: {', '.join(alts)}" for value, alts in synonyms.items())


def parse_lookups(text: str) -> list[str]:
    """Lookup values, one a line."""
    return _unique(line.strip() for line in text.splitlines() if line.strip())


def synonym_problems(synonyms: dict[str, list[str]]) -> list[str]:
    problems, owner = [], {}
    for value, alternatives in synonyms.items():
        if not value.strip():
            problems.append("a synonym's value is empty")
        if not alternatives or any(not a.strip() for a in alternatives):
            problems.append(f"the synonyms of {value!r} are empty")
        for alt in alternatives:
            first = owner.setdefault(alt.strip().lower(), value)
            if first != value:
                problems.append(f"{alt!r} is a synonym of both {first!r} and {value!r}")
    return problems


def default_route(intent: str) -> str | None:
    """The route of an intent nobody routed: the code's (core.routing.ROUTES); out-of-scope has none."""
    return None if intent == OOS else ROUTES.get(intent)


def branch_templates() -> dict[str, dict]:
    """Every branch of the function app with its reply templates (what routes and replies may name)."""
    return _branch_templates()


@functools.lru_cache(maxsize=1)
def _branch_templates() -> dict[str, dict]:  # the code does not change while the site runs
    return branches.all_templates()


def export_document(intents: list[Doc], entities: list[Doc],
                    dups: dict[str, list[str]] | None = None) -> tuple[dict, list[str]]:
    """The catalogue as a data set in the project's format (what `training_jobs train --data` reads),
    and the utterances left out of it: those in more than one intent, which the training CLI refuses
    until an admin decides where they belong. Lookup values ride along as each entity's `lookup:` list
    (the reader ignores keys it does not know)."""
    dups = duplicates(intents) if dups is None else dups
    declared = {e["name"] for e in entities}
    undeclared: set[str] = set()
    out_intents = []
    for doc in intents:
        examples = []
        for raw in doc.get("examples", ()):
            if normalise(raw) in dups:
                continue
            try:
                text, spans = dataset.parse_annotated(raw)
            except ValueError:  # refused at save time; a hand edit of the container, maybe
                continue
            if text.strip():
                undeclared.update(s.entity for s in spans if s.entity not in declared)
                examples.append(raw)
        out_intents.append({"name": doc["name"], "examples": examples})
    out_entities = []
    for entity in sorted(entities, key=lambda e: e["name"]):
        item: dict[str, Any] = {"name": entity["name"]}
        synonyms = {v: list(alts) for v, alts in entity.get("synonyms", {}).items() if alts}
        if synonyms:
            item["synonyms"] = synonyms
        if entity.get("lookups"):
            item["lookup"] = list(entity["lookups"])
        out_entities.append(item)
    out_entities += [{"name": name} for name in sorted(undeclared)]  # an entity deleted while in use
    doc = {"format_version": dataset.FORMAT_VERSION, "entities": out_entities, "intents": out_intents}
    return doc, sorted(dups)


def dump_yaml(doc: dict) -> str:
    return dataset.dump_yaml(doc, "# The Switchboard catalogue as a data set: python -m training_jobs train "
                                  "--data catalogue.yml\n")


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def _unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _intent_doc(name: str, examples: list[str], route: str | None, description: str) -> Doc:
    examples = _unique(examples)
    return {"id": name, "kind": INTENT, "name": name, "route": route, "description": description,
            "examples": examples, "example_count": len(examples)}


# ---- reading -------------------------------------------------------------------------------------

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


@dataclass
class ImportSummary:
    """What an import changed, for the page and the audit log."""
    intents_created: list[str] = field(default_factory=list)
    examples_added: dict[str, int] = field(default_factory=dict)  # intent -> examples added
    duplicates_skipped: int = 0
    elsewhere: list[tuple[str, str, str]] = field(default_factory=list)  # (utterance, file's intent, catalogue's)
    entities_created: list[str] = field(default_factory=list)
    synonyms_added: int = 0
    lookups_added: int = 0

    @property
    def added(self) -> int:
        return sum(self.examples_added.values())

    def detail(self) -> dict:
        return {"intents_created": self.intents_created, "examples_added": self.added,
                "duplicates_skipped": self.duplicates_skipped, "entities_created": self.entities_created,
                "synonyms_added": self.synonyms_added, "lookups_added": self.lookups_added}


class CatalogueStore:
    """The catalogue over a `Documents` container (see the module's docstring)."""

    def __init__(self, docs: Documents) -> None:
        self.docs = docs
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
            problems += [f"example {i} ({_short(raw)}): {p}" for p in example_problems(raw, known_entities)]
        if len(examples) > MAX_EXAMPLES:
            problems.append(f"{len(examples)} examples; an intent holds at most {MAX_EXAMPLES}")
        if route is not None and route not in branch_templates():
            problems.append(f"there is no branch {route!r} (the branches are: "
                            f"{', '.join(sorted(branch_templates()))})")
        if name == OOS and route is not None:
            problems.append("out-of-scope examples have no route")
        return problems

    def save_intent(self, name: str, examples: list[str], route: str | None, etag: str | None, by: str,
                    description: str = "") -> Doc:
        if problems := self.intent_problems(name, examples, route):
            raise Invalid(problems)
        return self._saved(_intent_doc(name, examples, route, description), etag, by)

    def rename_intent(self, old: str, new: str, etag: str, by: str) -> Doc:
        """A new document under the new name, then the old one removed (with its ETag: if it changed
        meanwhile, the new one is removed again and the caller sees the conflict)."""
        if new == old:
            raise Invalid([f"the intent is already called {old!r}"])
        if problem := name_problem(new):
            raise Invalid([problem])
        current = self.get(INTENT, old)
        if current is None or current["_etag"] != etag:
            raise Conflict(current)
        if self.get(INTENT, new) is not None:
            raise Invalid([f"there is already an intent {new!r}"])
        try:
            saved = self.save_intent(new, current.get("examples", []), current.get("route"), None, by,
                                     current.get("description", ""))
        except Conflict:
            raise Invalid([f"there is already an intent {new!r}"]) from None
        try:
            self.docs.delete(INTENT, old, etag)
        except Conflict:
            self.docs.delete(INTENT, new, saved["_etag"])
            self._touch()
            raise
        self._touch()
        return saved

    def delete_intent(self, name: str, etag: str | None, confirmed: bool = False) -> Doc:
        """Remove an intent; refused with the reasons while it has examples or a route, unless confirmed."""
        current = self.get(INTENT, name)
        if current is None or (etag is not None and current["_etag"] != etag):
            raise Conflict(current)
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
            except Conflict:
                continue
        raise RuntimeError(f"intent {name} kept changing; try again")

    def add_example(self, intent: str, raw: str, by: str) -> Doc:
        """Add one example to an intent (created if missing: the review queue's relabel)."""
        if problems := [p for p in (name_problem(intent),) if p] + example_problems(raw, self.entity_names()):
            raise Invalid(problems)

        def add(current: Doc | None) -> Doc | None:
            examples = (current or {}).get("examples", [])
            if normalise(raw) in {normalise(e) for e in examples}:
                return None
            if len(examples) >= MAX_EXAMPLES:
                raise Invalid([f"{intent} already holds {MAX_EXAMPLES} examples, the most an intent holds"])
            route = current.get("route") if current else default_route(intent)
            return _intent_doc(intent, examples + [raw], route, (current or {}).get("description", ""))

        return self.update_intent(intent, add, by)

    def save_entity(self, name: str, synonyms: dict[str, list[str]], lookups: list[str], etag: str | None,
                    by: str) -> Doc:
        problems = [p for p in (name_problem(name, "an entity"),) if p] + synonym_problems(synonyms)
        if problems:
            raise Invalid(problems)
        doc = {"id": name, "kind": ENTITY, "name": name,
               "synonyms": {v.strip(): _unique(a.strip() for a in alts) for v, alts in synonyms.items()},
               "lookups": _unique([v.strip() for v in lookups if v.strip()])}
        return self._saved(doc, etag, by)

    def delete_entity(self, name: str, etag: str | None, by: str, confirmed: bool = False) -> int:
        """Remove an entity. While examples annotate it this is refused with where, unless confirmed:
        then their annotations of it go too (the words stay). Returns the examples changed."""
        current = self.get(ENTITY, name)
        if current is None or (etag is not None and current["_etag"] != etag):
            raise Conflict(current)
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
            return _intent_doc(doc["name"], examples, doc.get("route"), doc.get("description", ""))

        try:
            for intent in usage:
                self.update_intent(intent, strip, by, touch=False)
        finally:
            self._touch()
        return sum(usage.values())

    def save_replies(self, branch: str, templates: dict[str, str], etag: str | None, by: str) -> Doc:
        known = branch_templates()
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
        questions = _unique([q.strip() for q in questions if q.strip()])
        problems = [] if questions else ["a pair needs at least one question"]
        if not answer.strip():
            problems.append("the answer is empty")
        if problems:
            raise Invalid(problems)
        pair_id = pair_id or f"qna-{uuid.uuid4().hex[:10]}"
        return self._saved({"id": pair_id, "kind": QNA, "questions": questions, "answer": answer.strip()}, etag, by)

    # ---- the data set ----------------------------------------------------------------------------
    def to_dataset(self) -> dataset.Dataset:
        """The whole catalogue in the training format's shape (what `train` reads)."""
        examples = []
        for intent in self.all(INTENT):
            for raw in intent.get("examples", ()):
                text, spans = dataset.parse_annotated(raw)
                examples.append(dataset.Example(text, intent["name"], spans))
        synonyms = {e["name"]: {alt.lower(): value for value, alts in e.get("synonyms", {}).items() for alt in alts}
                    for e in self.all(ENTITY)}
        return dataset.Dataset({"train": examples}, synonyms, source="catalogue")

    def export_yaml(self) -> str:
        """The whole catalogue as `catalogue.yml` (format_version 1), computed once per change."""
        return self.view().export_yaml

    def import_dataset(self, data: dataset.Dataset, lookups: dict[str, list[str]], by: str) -> ImportSummary:
        """Merge a data set in: examples added to their intents (created with the code's default route
        when missing), entities, synonyms and lookup values added; nothing removed. Utterances the
        catalogue already has, in any intent, are skipped. Everything is checked before anything is
        written; then one save per entity and per intent, and one stamp."""
        view, summary = self.view(), ImportSummary()
        groups: dict[str, list[str]] = {}
        for example in data.splits.get("train", []):
            groups.setdefault(example.intent, []).append(dataset.format_annotated(example))
        entity_names = set(data.synonyms) | set(lookups)
        known = set(view.entity_names) | entity_names
        owner = {text: name for name, texts in view.normalised.items() for text in texts}
        problems = [p for name in sorted(entity_names) if (p := name_problem(name, "an entity"))]
        plans: dict[str, list[str]] = {}
        for intent, examples in groups.items():
            if problem := name_problem(intent):
                problems.append(problem)
                continue
            fresh = []
            for raw in examples:
                problems += [f"intent {intent} ({_short(raw)}): {p}" for p in example_problems(raw, known)]
                key = normalise(raw)
                if key in owner:
                    summary.duplicates_skipped += 1
                    if owner[key] != intent and len(summary.elsewhere) < 50:
                        summary.elsewhere.append((raw, intent, owner[key]))
                    continue
                owner[key] = intent
                fresh.append(raw)
            have = len(view.intents.get(intent, {}).get("examples", ()))
            if have + len(fresh) > MAX_EXAMPLES:
                problems.append(f"intent {intent} would hold {have + len(fresh)} examples; an intent holds "
                                f"at most {MAX_EXAMPLES}")
            if fresh:
                plans[intent] = fresh
        if problems:
            raise Invalid(problems)
        try:
            for name in sorted(entity_names):
                self._merge_entity(name, data.synonyms.get(name, {}), lookups.get(name, []), by, summary)
            for intent, fresh in plans.items():
                self._merge_examples(intent, fresh, by, summary)
        finally:  # what was written is seen, even when a write failed half-way
            self._touch()
        return summary

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
            new_lookups = [v for v in _unique(v.strip() for v in lookups) if v and v not in have]
            if current is not None and not added and not new_lookups:
                return
            doc = {"id": name, "kind": ENTITY, "name": name, "synonyms": synonyms, "lookups": have + new_lookups}
            try:
                self._saved(doc, current["_etag"] if current else None, by, touch=False)
            except Conflict:
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
            route = current.get("route") if current else default_route(intent)
            return _intent_doc(intent, have + added, route, (current or {}).get("description", ""))

        before = self.get(INTENT, intent)
        self.update_intent(intent, merge, by, touch=False)
        if added:
            summary.examples_added[intent] = len(added)
            if before is None:
                summary.intents_created.append(intent)

    def seed(self, data: Path, qna: Path, by: str = "seed") -> bool:
        """Give an empty catalogue the demo bot: intents, examples and entities of the data set, the
        code's routes and reply texts, the QnA pairs. Only the process that claims the seed does it."""
        try:
            self.docs.save({"id": "seeded", "kind": META, "at": time.time()}, etag=None)
        except Conflict:
            return False
        demo = dataset.read_project(data)
        for name, table in demo.synonyms.items():
            values: dict[str, list[str]] = {}
            for alt, value in table.items():
                values.setdefault(value, []).append(alt)
            self.save_entity(name, values, demo.lookups.get(name, []), None, by)
        by_intent: dict[str, list[str]] = {}
        for example in demo.splits["train"]:
            by_intent.setdefault(example.intent, []).append(dataset.format_annotated(example))
        for name, examples in sorted(by_intent.items()):
            self.save_intent(name, examples, default_route(name), None, by)
        for branch, templates in branch_templates().items():
            if templates:
                self.save_replies(branch, {k: t.text for k, t in templates.items()}, None, by)
        for pair in json.loads(qna.read_text()):
            self.save_qna(f"qna-{pair['id']}", pair["questions"], pair["answer"], None, by)
        return True
