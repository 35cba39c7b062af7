"""The catalogue's rules, over plain data: what a name, an example, a synonym table may be; how
examples are compared (duplicates) and shown (annotations cut out); what still uses an intent.
Pure: the store refuses with these what cannot be saved, and the pages preview with them."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from admin_site.ports import Doc
from nlu import dataset

INTENT, ENTITY, REPLIES, QNA, META = "intent", "entity", "replies", "qna", "meta"  # the document kinds
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
            problems += [f"line {number} ({short(raw)}): {p}" for p in example_problems(raw, known)]
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


def split_annotated(raw: str) -> list[tuple[str, str | None]]:
    """An annotated example cut at its annotations, as the pages show it: (text, entity or None)
    pieces, each entity span marked."""
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
            problems.append(f"line {number} ({short(line.strip())}): write the value, a colon and its "
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
    return unique(line.strip() for line in text.splitlines() if line.strip())


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


def short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def intent_doc(name: str, examples: list[str], route: str | None, description: str) -> Doc:
    examples = unique(examples)
    return {"id": name, "kind": INTENT, "name": name, "route": route, "description": description,
            "examples": examples, "example_count": len(examples)}
