"""BIO tags over WordPiece tokens <-> entity spans over the original text.

Training calls `encode_tags` to label pieces from annotated character spans; serving calls
`decode_entities` to turn predicted tags back into character spans. A word's tag is the tag
of its first piece, so entities always cover whole words.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .tokenizer import Piece


def tag_labels(entities: Iterable[str]) -> list[str]:
    tags = ["O"]
    for e in sorted(set(entities)):
        tags += [f"B-{e}", f"I-{e}"]
    return tags


def encode_tags(pieces: Sequence[Piece], spans: Iterable, tag_index: dict[str, int]) -> list[int]:
    """Tag id per piece; `spans` have .start, .end, .entity in character offsets."""
    out = [tag_index["O"]] * len(pieces)
    for span in spans:
        inside = [i for i, p in enumerate(pieces) if p.start < span.end and p.end > span.start]
        for n, i in enumerate(inside):
            out[i] = tag_index[("B-" if n == 0 else "I-") + span.entity]
    return out


def decode_entities(
    text: str,
    pieces: Sequence[Piece],
    tag_probs: np.ndarray,
    tags: Sequence[str],
    synonyms: dict[str, dict[str, str]] | None = None,
) -> list[dict]:
    """Spans from per-piece tag probabilities [T, K] (conlleval-style: a stray I- opens a span)."""
    entities: list[dict] = []
    current: dict | None = None
    word = -1
    for i, piece in enumerate(pieces):
        if piece.word == word:  # continuation piece: extend whatever span the word is in
            if current is not None:
                current["end"] = piece.end
            continue
        word = piece.word
        k = int(np.argmax(tag_probs[i]))
        tag, p = tags[k], float(tag_probs[i][k])
        if tag == "O":
            current = None
            continue
        kind, name = tag[:2], tag[2:]
        if kind == "I-" and current is not None and current["entity"] == name:
            current["end"] = piece.end
            current["_p"].append(p)
            continue
        current = {"entity": name, "start": piece.start, "end": piece.end, "_p": [p]}
        entities.append(current)
    synonyms = synonyms or {}
    for e in entities:
        value = text[e["start"]:e["end"]]
        e["value"] = synonyms.get(e["entity"], {}).get(value.lower(), value)
        e["confidence"] = round(float(np.mean(e.pop("_p"))), 4)
    return [{k: e[k] for k in ("entity", "value", "start", "end", "confidence")} for e in entities]
