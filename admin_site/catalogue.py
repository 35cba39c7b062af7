"""The catalogue that admins curate: intents (with their examples and route), entities (synonyms and
lookup values), each branch's reply templates, and QnA pairs. One Cosmos DB container, `catalogue`,
partitioned by `kind`; the function app reads the routes and replies from it (core.cosmos).

Every save names the ETag its document was read with: a document changed meanwhile is a
`documents.Conflict` with the stored version (and who saved it), never a silent overwrite. What
cannot be used is refused at save time with the reason: an intent routed to a branch that does not
exist, a template that names a slot its branch does not fill, an annotation that does not parse or
names an unknown entity.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

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


class Invalid(ValueError):
    """What an admin entered cannot be saved; `problems` name each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def name_problem(name: str, what: str = "an intent") -> str | None:
    if not INTENT_NAME.match(name or ""):
        return (f"{what} name is a lower-case letter, then up to 63 lower-case letters, digits or "
                f"underscores (like order_status); got {name!r}")
    return None


def example_problems(raw: str, entities: Iterable[str]) -> list[str]:
    """Why an annotated example (`where is [A-1234](order_id)`) cannot be saved."""
    try:
        text, spans = dataset.parse_annotated(raw)
    except ValueError as e:
        return [str(e)]
    if not text.strip():
        return ["the example is empty"]
    known = set(entities)
    return [f"unknown entity {s.entity!r} (known: {', '.join(sorted(known)) or 'none'})"
            for s in spans if s.entity not in known]


def normalise(raw: str) -> str:
    """The text of an example as duplicates are found: annotations removed, case and spacing folded."""
    try:
        text, _ = dataset.parse_annotated(raw)
    except ValueError:
        text = raw
    return " ".join(text.lower().split())


def duplicates(intents: Iterable[Doc]) -> dict[str, list[str]]:
    """Utterances found in more than one intent: normalised text -> the intents."""
    seen: dict[str, list[str]] = {}
    for intent in intents:
        for raw in intent.get("examples", ()):
            names = seen.setdefault(normalise(raw), [])
            if intent["name"] not in names:
                names.append(intent["name"])
    return {text: names for text, names in seen.items() if len(names) > 1}


def branch_templates() -> dict[str, dict]:
    """Every branch of the function app with its reply templates (what routes and replies may name)."""
    return branches.all_templates()


class CatalogueStore:
    """The catalogue over a `Documents` container. Reads of whole kinds are cached and checked
    against a stamp that every write changes, so the pages stay fast with 10,000 examples and
    several replicas see each other's edits at the next request."""

    def __init__(self, docs: Documents) -> None:
        self.docs = docs
        self._cache: dict[str, tuple[str, list[Doc]]] = {}
        self._lock = threading.Lock()

    # ---- reading -------------------------------------------------------------------------------
    def stamp(self) -> str:
        doc = self.docs.get(META, "stamp")
        return doc["value"] if doc else ""

    def all(self, kind: str) -> list[Doc]:
        stamp = self.stamp()
        with self._lock:
            cached = self._cache.get(kind)
            if cached and cached[0] == stamp and stamp:
                return cached[1]
        found = self.docs.find(partition=kind, order_by="id")
        with self._lock:
            self._cache[kind] = (stamp, found)
        return found

    def get(self, kind: str, doc_id: str) -> Doc | None:
        return self.docs.get(kind, doc_id)

    def entity_names(self) -> list[str]:
        return [d["id"] for d in self.all(ENTITY)]

    # ---- writing -------------------------------------------------------------------------------
    def _saved(self, doc: Doc, etag: str | None, by: str) -> Doc:
        saved = self.docs.save({**doc, "updated_by": by, "updated_at": time.time()}, etag)
        self._touch()
        return saved

    def _touch(self) -> None:
        self.docs.upsert({"id": "stamp", "kind": META, "value": uuid.uuid4().hex})

    def save_intent(self, name: str, examples: list[str], route: str | None, etag: str | None, by: str,
                    description: str = "") -> Doc:
        problems = [p for p in (name_problem(name),) if p]
        known_entities = self.entity_names()
        for i, raw in enumerate(examples, 1):
            problems += [f"example {i} ({raw!r}): {p}" for p in example_problems(raw, known_entities)]
        if len(examples) > MAX_EXAMPLES:
            problems.append(f"{len(examples)} examples; an intent holds at most {MAX_EXAMPLES}")
        if route is not None and route not in branch_templates():
            problems.append(f"there is no branch {route!r} (the branches are: "
                            f"{', '.join(sorted(branch_templates()))})")
        if name == OOS and route is not None:
            problems.append("out-of-scope examples have no route")
        if problems:
            raise Invalid(problems)
        doc = {"id": name, "kind": INTENT, "name": name, "route": route, "description": description,
               "examples": _unique(examples), "example_count": len(_unique(examples))}
        return self._saved(doc, etag, by)

    def delete(self, kind: str, doc_id: str, etag: str | None) -> None:
        self.docs.delete(kind, doc_id, etag)
        self._touch()

    def rename_intent(self, old: str, new: str, etag: str, by: str) -> Doc:
        current = self.get(INTENT, old)
        if current is None or current["_etag"] != etag:
            raise Conflict(current)
        if self.get(INTENT, new) is not None:
            raise Invalid([f"there is already an intent {new!r}"])
        saved = self.save_intent(new, current.get("examples", []), current.get("route"), None, by,
                                 current.get("description", ""))
        self.delete(INTENT, old, etag)
        return saved

    def add_example(self, intent: str, raw: str, by: str) -> Doc:
        """Add one example to an intent (created if missing: the review queue's relabel)."""
        for _ in range(10):
            current = self.get(INTENT, intent)
            examples = (current or {}).get("examples", [])
            if normalise(raw) in {normalise(e) for e in examples}:
                return current
            route = (current or {}).get("route", None if intent == OOS else ROUTES.get(intent))
            try:
                return self.save_intent(intent, examples + [raw], route, current["_etag"] if current else None, by,
                                        (current or {}).get("description", ""))
            except Conflict:
                continue
        raise RuntimeError(f"intent {intent} kept changing")

    def save_entity(self, name: str, synonyms: dict[str, list[str]], lookups: list[str], etag: str | None,
                    by: str) -> Doc:
        problems = [p for p in (name_problem(name, "an entity"),) if p]
        for value, alternatives in synonyms.items():
            if not value.strip():
                problems.append("a synonym's value is empty")
            if not alternatives or any(not a.strip() for a in alternatives):
                problems.append(f"the synonyms of {value!r} are empty")
        if problems:
            raise Invalid(problems)
        doc = {"id": name, "kind": ENTITY, "name": name, "synonyms": synonyms,
               "lookups": _unique([v.strip() for v in lookups if v.strip()])}
        return self._saved(doc, etag, by)

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
            self.save_entity(name, values, [], None, by)
        by_intent: dict[str, list[str]] = {}
        for example in demo.splits["train"]:
            by_intent.setdefault(example.intent, []).append(dataset.format_annotated(example))
        for name, examples in sorted(by_intent.items()):
            self.save_intent(name, examples, None if name == OOS else ROUTES.get(name), None, by)
        for branch, templates in branch_templates().items():
            if templates:
                self.save_replies(branch, {k: t.text for k, t in templates.items()}, None, by)
        for pair in json.loads(qna.read_text()):
            self.save_qna(f"qna-{pair['id']}", pair["questions"], pair["answer"], None, by)
        return True


def _unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))
