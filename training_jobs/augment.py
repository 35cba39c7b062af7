"""Entity substitution for small catalogues: more training texts from the ones that annotate
entities, each span replaced by another value the catalogue knows for that entity (the values its
examples annotate, its synonyms, its lookup list).

A shop's first catalogue has a couple of dozen product searches; a model that has seen "Nike"
only as a brand and "t-shirt" only as a product learns the words, not the roles. Variants such as
"I want to buy Columbia backpack" teach the roles from the context. Only the training split is
augmented (never the validation or held-out texts), and only while the catalogue is small: past
MAX_SOURCE annotated texts the data has the variety already (SNIPS has 13,000).
"""
from __future__ import annotations

import random

from nlu.dataset import Example, Span

PER_EXAMPLE = 3  # variants of each annotated text
MAX_SOURCE = 1000  # annotated texts above which nothing is added


def value_pools(examples: list[Example], synonyms: dict[str, dict[str, str]],
                lookups: dict[str, list[str]]) -> dict[str, list[str]]:
    pools: dict[str, set[str]] = {}
    for e in examples:
        for s in e.entities:
            pools.setdefault(s.entity, set()).add(e.text[s.start:s.end])
    for entity, table in synonyms.items():
        if entity in pools:
            pools[entity].update(table)  # the typed forms (navy)
            pools[entity].update(table.values())  # the values they stand for (blue)
    for entity, values in lookups.items():
        if entity in pools:
            pools[entity].update(values)
    return {entity: sorted(v for v in values if v.strip()) for entity, values in pools.items()}


def substitute(example: Example, values: dict[Span, str]) -> Example:
    """The example with each span in `values` replaced by its new value (spans moved to fit)."""
    out, spans, pos = [], [], 0
    for s in sorted(example.entities, key=lambda s: s.start):
        out.append(example.text[pos:s.start])
        start = sum(len(p) for p in out)
        value = values.get(s, example.text[s.start:s.end])
        out.append(value)
        spans.append(Span(start, start + len(value), s.entity))
        pos = s.end
    out.append(example.text[pos:])
    return Example("".join(out), example.intent, tuple(spans))


def augment(examples: list[Example], synonyms: dict[str, dict[str, str]], lookups: dict[str, list[str]],
            seed: int, per_example: int = PER_EXAMPLE) -> list[Example]:
    """New training examples (not including `examples`); none for a large catalogue."""
    annotated = [e for e in examples if e.entities]
    if not annotated or len(annotated) > MAX_SOURCE:
        return []
    pools = value_pools(examples, synonyms, lookups)
    rng = random.Random(seed)
    seen = {" ".join(e.text.lower().split()) for e in examples}
    added = []
    for e in annotated:
        for _ in range(per_example):
            variant = substitute(e, {s: rng.choice(pools[s.entity]) for s in e.entities})
            key = " ".join(variant.text.lower().split())
            if key not in seen:
                seen.add(key)
                added.append(variant)
    return added
