"""Training data: one in-memory shape (`Dataset` of `Example`s with character spans) and readers.

Readers: the project's own YAML format (what the admin site exports), a `text,intent` CSV, the
CLINC150 JSON and the SNIPS folder layout. Every problem in a file is reported as a `DataError`
naming the file, the line or record, and what is wrong.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FORMAT_VERSION = 1
OOS = "oos"
_ANNOTATION = re.compile(r"\[([^\[\]()]+)\]\(([A-Za-z_][\w.-]*)\)")


class DataError(ValueError):
    """A training-data file that cannot be used; the message names file, place and problem."""

    def __init__(self, path: str | Path, where: str, problem: str) -> None:
        super().__init__(f"{path}: {where}: {problem}")
        self.path, self.where, self.problem = str(path), where, problem


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[Span, ...] = ()


@dataclass
class Dataset:
    """Named splits (train, and optionally val and test) plus entity synonym tables."""

    splits: dict[str, list[Example]]
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)  # entity -> {synonym: value}
    source: str = ""
    lookups: dict[str, list[str]] = field(default_factory=dict)  # entity -> values it can take

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for split in self.splits.values() for e in split})

    @property
    def entities(self) -> list[str]:
        return sorted({s.entity for split in self.splits.values() for e in split for s in e.entities})

    def fingerprint(self) -> str:
        """Stable hash of the content, recorded with every model trained on it."""
        h = hashlib.sha256()
        for name in sorted(self.splits):
            for e in self.splits[name]:
                spans = [[s.start, s.end, s.entity] for s in e.entities]
                h.update(json.dumps([name, e.text, e.intent, spans]).encode())
        h.update(json.dumps(self.synonyms, sort_keys=True).encode())
        if self.lookups:
            h.update(json.dumps(self.lookups, sort_keys=True).encode())
        return h.hexdigest()


# -- annotations -----------------------------------------------------------------------------

def parse_annotated(raw: str) -> tuple[str, tuple[Span, ...]]:
    """`where is order [A-1234](order_id)` -> ("where is order A-1234", (Span(15, 21, "order_id"),))."""
    text_parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[pos:m.start()]
        _check_brackets(before)
        text_parts.append(before)
        length += len(before)
        value = m.group(1)
        spans.append(Span(length, length + len(value), m.group(2)))
        text_parts.append(value)
        length += len(value)
        pos = m.end()
    _check_brackets(raw[pos:])
    text_parts.append(raw[pos:])
    return "".join(text_parts), tuple(spans)


def _check_brackets(fragment: str) -> None:
    for ch in "[]":
        if ch in fragment:
            raise ValueError(
                f"unbalanced annotation bracket {ch!r}: write entities as [value](entity_name)"
            )


def format_annotated(example: Example) -> str:
    """The inverse of `parse_annotated`."""
    out, pos = [], 0
    for s in sorted(example.entities, key=lambda s: s.start):
        out.append(example.text[pos:s.start])
        out.append(f"[{example.text[s.start:s.end]}]({s.entity})")
        pos = s.end
    out.append(example.text[pos:])
    return "".join(out)


# -- the project's format --------------------------------------------------------------------

def read_project(path: str | Path) -> Dataset:
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise DataError(path, where, f"not valid YAML ({getattr(e, 'problem', e)})") from e
    if not isinstance(root, yaml.MappingNode):
        raise DataError(path, "line 1", "expected a mapping with format_version, intents, entities")
    top = {k.value: v for k, v in root.value}
    version = top.get("format_version")
    if version is None or version.value != str(FORMAT_VERSION):
        where = f"line {version.start_mark.line + 1}" if version else "line 1"
        raise DataError(path, where, f"format_version must be {FORMAT_VERSION}")

    synonyms: dict[str, dict[str, str]] = {}
    lookups: dict[str, list[str]] = {}
    for node in _seq(path, top.get("entities"), "entities", required=False):
        item = _map(path, node, "entity")
        name = _scalar(path, item.get("name"), node, "entity name")
        table = synonyms.setdefault(name, {})
        values = item.get("lookup")
        if values is not None:
            scalars = (isinstance(values, yaml.SequenceNode)
                       and all(isinstance(v, yaml.ScalarNode) for v in values.value))
            if not scalars:
                raise DataError(path, _line(values), f"the lookup values of {name} must be a list of values")
            lookups[name] = [v.value for v in values.value if v.value.strip()]
        syn_node = item.get("synonyms")
        if syn_node is not None:
            if not isinstance(syn_node, yaml.MappingNode):
                raise DataError(path, _line(syn_node), "synonyms must map a value to a list")
            for value_node, alts in syn_node.value:
                for alt in _seq(path, alts, "synonyms", required=True):
                    table[_scalar(path, alt, alt, "synonym").lower()] = value_node.value

    examples: list[Example] = []
    first_seen: dict[str, tuple[str, str]] = {}
    for node in _seq(path, top.get("intents"), "intents", required=True):
        item = _map(path, node, "intent")
        intent = _scalar(path, item.get("name"), node, "intent name")
        for ex in _seq(path, item.get("examples"), f"examples of {intent}", required=True):
            raw = _scalar(path, ex, ex, "example")
            where = _line(ex)
            try:
                text, spans = parse_annotated(raw)
            except ValueError as e:
                raise DataError(path, where, str(e)) from None
            if not text.strip():
                raise DataError(path, where, f"empty utterance in intent {intent!r}")
            for s in spans:
                if s.entity not in synonyms:
                    raise DataError(
                        path, where,
                        f"unknown entity {s.entity!r}; declare it under entities "
                        f"(known: {', '.join(sorted(synonyms)) or 'none'})",
                    )
            key = " ".join(text.lower().split())
            if key in first_seen:
                other_intent, other_where = first_seen[key]
                if other_intent != intent:
                    raise DataError(
                        path, where,
                        f"duplicate utterance {text!r} is in intent {intent!r} and in intent "
                        f"{other_intent!r} ({other_where})",
                    )
                continue
            first_seen[key] = (intent, where)
            examples.append(Example(text, intent, spans))
    return Dataset({"train": examples}, synonyms, source=str(path), lookups={k: v for k, v in lookups.items() if v})


# libyaml: 10,000 examples in ~30 ms
_BASE_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LINE_BREAKS = "\x85\u2028\u2029"  # YAML reads these as line breaks in a plain or single-quoted scalar


class _Dumper(_BASE_DUMPER):
    """Strings holding a YAML line break go out double-quoted, where it is escaped (`\\N`): a plain
    one would come back as a space."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in LINE_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(doc: dict, head: str = "") -> str:
    """A data-set document as YAML in the project's format (what `read_project` reads back equal)."""
    return head + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def write_project(dataset: Dataset, path: str | Path) -> None:
    """Write the train split (and synonyms) in the project's format."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for e in dataset.splits["train"]:
        by_intent[e.intent].append(format_annotated(e))
    doc = {
        "format_version": FORMAT_VERSION,
        "entities": [
            {"name": name, **({"synonyms": _invert(table)} if table else {})}
            for name, table in sorted({n: dataset.synonyms.get(n, {}) for n in
                                       set(dataset.entities) | set(dataset.synonyms)}.items())
        ],
        "intents": [{"name": k, "examples": v} for k, v in sorted(by_intent.items())],
    }
    Path(path).write_text(dump_yaml(doc), encoding="utf-8")


def _invert(table: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for syn, value in table.items():
        out[value].append(syn)
    return dict(out)


def _line(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _seq(path: Path, node, what: str, required: bool) -> list:
    if node is None:
        if required:
            raise DataError(path, "file", f"missing {what}")
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise DataError(path, _line(node), f"{what} must be a list")
    return node.value


def _map(path: Path, node, what: str) -> dict:
    if not isinstance(node, yaml.MappingNode):
        raise DataError(path, _line(node), f"each {what} must be a mapping")
    return {k.value: v for k, v in node.value}


def _scalar(path: Path, node, parent, what: str) -> str:
    if node is None:
        raise DataError(path, _line(parent), f"missing {what}")
    if not isinstance(node, yaml.ScalarNode):
        raise DataError(path, _line(node), f"{what} must be a string")
    return node.value


# -- other readers ---------------------------------------------------------------------------

def read_csv(path: str | Path) -> Dataset:
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header] != ["text", "intent"]:
            raise DataError(path, "line 1", f"bad CSV header {header!r}: expected 'text,intent'")
        examples, seen = [], {}
        for row in reader:
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in row):
                continue
            if len(row) != 2:
                raise DataError(path, where, f"expected 2 columns (text,intent), got {len(row)}")
            text, intent = row[0], row[1].strip()
            if not text.strip():
                raise DataError(path, where, "empty utterance")
            if not intent:
                raise DataError(path, where, "empty intent")
            key = " ".join(text.lower().split())
            if key in seen and seen[key][0] != intent:
                raise DataError(path, where, f"duplicate utterance {text!r} is in intent "
                                             f"{intent!r} and in intent {seen[key][0]!r} ({seen[key][1]})")
            if key not in seen:
                seen[key] = (intent, where)
                examples.append(Example(text, intent))
    return Dataset({"train": examples}, source=str(path))


def read_clinc(path: str | Path) -> Dataset:
    """CLINC150 `data_full.json`: in-scope splits plus oos_* merged in under the `oos` intent."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, f"line {e.lineno}", f"not valid JSON ({e.msg})") from None
    splits = {}
    for name in ("train", "val", "test"):
        rows = raw.get(name)
        if not isinstance(rows, list):
            raise DataError(path, "file", f"missing list {name!r}")
        rows = rows + raw.get(f"oos_{name}", [])
        examples = []
        for i, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 2 and all(isinstance(x, str) for x in row)):
                raise DataError(path, f"{name}[{i}]", "expected [text, intent]")
            if not row[0].strip():
                raise DataError(path, f"{name}[{i}]", "empty utterance")
            examples.append(Example(row[0], row[1]))
        splits[name] = examples
    return Dataset(splits, source=str(path))


def read_snips(path: str | Path) -> Dataset:
    """SNIPS folder: {train,valid,test}/{seq.in,seq.out,label}, BIO tags over space-split tokens."""
    path = Path(path)
    splits = {}
    for folder, name in (("train", "train"), ("valid", "val"), ("test", "test")):
        d = path / folder
        if not d.is_dir():
            continue
        files = {f: (d / f).read_text(encoding="utf-8").splitlines() for f in ("seq.in", "seq.out", "label")}
        if not len(files["seq.in"]) == len(files["seq.out"]) == len(files["label"]):
            raise DataError(d, "file", "seq.in, seq.out and label have different line counts")
        examples = []
        for n, (words, tags, intent) in enumerate(zip(files["seq.in"], files["seq.out"], files["label"]), 1):
            examples.append(_from_bio(d / "seq.out", n, words.split(), tags.split(), intent.strip()))
        splits[name] = examples
    if "train" not in splits:
        raise DataError(path, "folder", "no train/ folder with seq.in, seq.out, label")
    return Dataset(splits, source=str(path))


def _from_bio(path: Path, line: int, words: list[str], tags: list[str], intent: str) -> Example:
    if len(words) != len(tags):
        raise DataError(path, f"line {line}", f"{len(words)} tokens but {len(tags)} tags")
    if not words:
        raise DataError(path, f"line {line}", "empty utterance")
    spans, pos, open_span = [], 0, None
    for word, tag in zip(words, tags):
        start, end = pos, pos + len(word)
        if tag.startswith("I-") and open_span and open_span[2] == tag[2:]:
            open_span[1] = end
        else:
            if open_span:
                spans.append(Span(*open_span))
            open_span = [start, end, tag[2:]] if tag[:2] in ("B-", "I-") else None
            if tag != "O" and open_span is None:
                raise DataError(path, f"line {line}", f"bad BIO tag {tag!r}")
        pos = end + 1
    if open_span:
        spans.append(Span(*open_span))
    return Example(" ".join(words), intent, tuple(spans))


def load(path: str | Path) -> Dataset:
    """Pick the reader from what the path is."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, "path", "no such file or folder")
    if p.is_dir():
        return read_snips(p)
    suffix = p.suffix.lower()
    if suffix in (".yml", ".yaml"):
        return read_project(p)
    if suffix == ".csv":
        return read_csv(p)
    if suffix == ".json":
        return read_clinc(p)
    raise DataError(p, "path", "unknown data format: use .yml/.yaml, .csv, CLINC150 .json or a SNIPS folder")


def holdout(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Seeded split that keeps at least one example of each intent in training."""
    rng = random.Random(seed)
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_intent[e.intent].append(e)
    train, val = [], []
    for intent in sorted(by_intent):
        items = by_intent[intent][:]
        rng.shuffle(items)
        k = int(len(items) * fraction) if len(items) > 1 else 0
        val.extend(items[:k])
        train.extend(items[k:])
    return train, val


GATE_FRACTION = 0.15  # of each intent's examples, held out for the gate
GATE_MIN_TRAIN = 4  # an intent keeps at least this many examples for training


def gate_split(examples: list[Example], fraction: float = GATE_FRACTION) -> tuple[list[Example], list[Example]]:
    """(train, held out): the held-out set of a catalogue, never trained on.

    An example is held out when the hash of its normalised text falls in the bottom `fraction`, so
    its place does not depend on the rest of the catalogue: adding examples does not move an old one
    into training (save the one pick of an intent that had no draw under `fraction`), and two versions
    trained from two states of the catalogue are both scored on examples neither saw. An intent keeps
    at least GATE_MIN_TRAIN examples for training, and one with more than that has at least one held
    out (its lowest draw), so that the gate can score it.
    """
    def draw(e: Example) -> float:
        key = " ".join(e.text.lower().split()).encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2 ** 64

    by_intent: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_intent[e.intent].append(e)
    held: set[int] = set()
    for items in by_intent.values():
        ranked = sorted(items, key=draw)
        room = max(0, len(items) - GATE_MIN_TRAIN)
        picked = [e for e in ranked if draw(e) < fraction][:room] or ranked[:min(1, room)]
        held.update(id(e) for e in picked)
    return [e for e in examples if id(e) not in held], [e for e in examples if id(e) in held]


def with_test_split(splits: dict[str, list[Example]]) -> dict[str, list[Example]]:
    """The splits with a `test` split: the data's own or, for a catalogue, its gate's held-out set
    (what `train` never trains on and the gate scores both versions on)."""
    if splits.get("test"):
        return dict(splits)
    train, held_out = gate_split(splits["train"])
    return {**splits, "train": train, "test": held_out}


def intent_counts(examples: list[Example]) -> Counter:
    return Counter(e.intent for e in examples)
