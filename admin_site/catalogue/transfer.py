"""The catalogue in and out of the project's data-set format (what `training_jobs train --data`
reads): the export, an import checked before anything is written, and the demo bot an empty
catalogue can be seeded with (`python -m admin_site seed-demo`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from admin_site.catalogue.rules import (
    ENTITY,
    INTENT,
    MAX_EXAMPLES,
    Invalid,
    duplicates,
    example_problems,
    name_problem,
    normalise,
    short,
)
from admin_site.ports import Doc
from nlu import dataset


class CatalogueView(Protocol):
    """What the export reads of the catalogue (`view.CatalogueView` is it)."""

    def all(self, kind: str) -> list[Doc]: ...


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


def to_dataset(view: CatalogueView) -> dataset.Dataset:
    """The whole catalogue in the training format's shape (what `train` reads)."""
    examples = []
    for intent in view.all(INTENT):
        for raw in intent.get("examples", ()):
            text, spans = dataset.parse_annotated(raw)
            examples.append(dataset.Example(text, intent["name"], spans))
    synonyms = {e["name"]: {alt.lower(): value for value, alts in e.get("synonyms", {}).items() for alt in alts}
                for e in view.all(ENTITY)}
    return dataset.Dataset({"train": examples}, synonyms, source="catalogue")


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


@dataclass
class ImportPlan:
    """What an import will write, every part of it checked."""
    entities: list[str]  # to merge in, by name
    examples: dict[str, list[str]]  # intent -> the examples it does not hold yet
    summary: ImportSummary  # what was skipped, so far


def plan_import(intents: dict[str, Doc], entity_names: list[str], normalised: dict[str, list[str]],
                data: dataset.Dataset, lookups: dict[str, list[str]]) -> ImportPlan:
    """What merging `data` into a catalogue of these intents and entities writes (`normalised`: its
    examples as compared); `Invalid` names every problem, before anything is written. Utterances the
    catalogue already has, in any intent, are skipped."""
    summary = ImportSummary()
    groups: dict[str, list[str]] = {}
    for example in data.splits.get("train", []):
        groups.setdefault(example.intent, []).append(dataset.format_annotated(example))
    new_entities = set(data.synonyms) | set(lookups)
    known = set(entity_names) | new_entities
    owner = {text: name for name, texts in normalised.items() for text in texts}
    problems = [p for name in sorted(new_entities) if (p := name_problem(name, "an entity"))]
    plans: dict[str, list[str]] = {}
    for intent, examples in groups.items():
        if problem := name_problem(intent):
            problems.append(problem)
            continue
        fresh = []
        for raw in examples:
            problems += [f"intent {intent} ({short(raw)}): {p}" for p in example_problems(raw, known)]
            key = normalise(raw)
            if key in owner:
                summary.duplicates_skipped += 1
                if owner[key] != intent and len(summary.elsewhere) < 50:
                    summary.elsewhere.append((raw, intent, owner[key]))
                continue
            owner[key] = intent
            fresh.append(raw)
        have = len(intents.get(intent, {}).get("examples", ()))
        if have + len(fresh) > MAX_EXAMPLES:
            problems.append(f"intent {intent} would hold {have + len(fresh)} examples; an intent holds "
                            f"at most {MAX_EXAMPLES}")
        if fresh:
            plans[intent] = fresh
    if problems:
        raise Invalid(problems)
    return ImportPlan(sorted(new_entities), plans, summary)
