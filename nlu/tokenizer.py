"""WordPiece tokenisation with character offsets into the customer's original text.

Implemented once, used by training (to turn annotated character spans into BIO tags) and by
serving (to turn predicted tags back into spans of the text the customer typed). Follows the
uncased BERT basic tokenizer (lower-casing, accent stripping, punctuation and CJK splitting)
so that the vocabulary of a pretrained encoder fits, but keeps, for every piece, the
``[start, end)`` range it came from in the un-normalised input.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

PAD, UNK = "[PAD]", "[UNK]"
MAX_WORD_CHARS = 100


@dataclass(frozen=True)
class Piece:
    """One WordPiece token: its vocabulary id, its text and where it came from."""

    id: int
    text: str
    start: int
    end: int
    word: int  # index of the whitespace/punctuation-delimited word it belongs to


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_skipped(ch: str) -> bool:
    """Control characters and the replacement character carry no text (BERT's _clean_text)."""
    if ch in "\t\n\r":
        return False
    cp = ord(ch)
    return cp == 0 or cp == 0xFFFD or unicodedata.category(ch) in ("Cc", "Cf")


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def split_words(text: str) -> list[tuple[str, Sequence[int]]]:
    """Split into normalised words, each with the original index of every normalised char."""
    if text.isascii() and text.isprintable():  # most messages: nothing to fold but case
        return [(m.group().lower(), range(m.start(), m.end())) for m in _ASCII_WORD.finditer(text)]
    return split_words_unicode(text)


def split_words_unicode(text: str) -> list[tuple[str, Sequence[int]]]:
    words: list[tuple[str, Sequence[int]]] = []
    chars: list[str] = []
    index: list[int] = []

    def flush() -> None:
        if chars:
            words.append(("".join(chars), index.copy()))
            chars.clear()
            index.clear()

    for i, ch in enumerate(text):
        if _is_skipped(ch):
            continue
        if ch.isspace() or unicodedata.category(ch) == "Zs":
            flush()
            continue
        normalised = [
            c for c in unicodedata.normalize("NFD", ch.lower()) if unicodedata.category(c) != "Mn"
        ]
        if not normalised:
            continue
        if _is_punctuation(ch) or _is_cjk(ord(ch)):
            flush()
            words.append(("".join(normalised), [i] * len(normalised)))
            continue
        chars.extend(normalised)
        index.extend([i] * len(normalised))
    flush()
    return words


class WordPieceTokenizer:
    """Greedy longest-match-first WordPiece over a fixed vocabulary (list index = token id)."""

    def __init__(self, vocab: Sequence[str], max_tokens: int = 128) -> None:
        self.vocab = list(vocab)
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        if PAD not in self.ids or UNK not in self.ids:
            raise ValueError("vocabulary must contain [PAD] and [UNK]")
        self.pad_id = self.ids[PAD]
        self.unk_id = self.ids[UNK]
        self.max_tokens = max_tokens
        self._pieces = lru_cache(maxsize=65536)(self._word_pieces)

    @classmethod
    def from_file(cls, path: str, max_tokens: int = 128) -> WordPieceTokenizer:
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\n") for line in f], max_tokens=max_tokens)

    def _word_pieces(self, word: str) -> tuple[tuple[int, int, int], ...]:
        """(id, start, end) over the normalised word; one [UNK] if it cannot be covered."""
        if len(word) > MAX_WORD_CHARS:
            return ((self.unk_id, 0, len(word)),)
        out = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.ids:
                    found = self.ids[sub]
                    break
                end -= 1
            if found is None:
                return ((self.unk_id, 0, len(word)),)
            out.append((found, start, end))
            start = end
        return tuple(out)

    def tokenize(self, text: str) -> list[Piece]:
        pieces: list[Piece] = []
        for w, (word, index) in enumerate(split_words(text)):
            for token_id, a, b in self._pieces(word):
                if len(pieces) == self.max_tokens:
                    return pieces
                pieces.append(Piece(token_id, self.vocab[token_id], index[a], index[b - 1] + 1, w))
        return pieces

    def encode(self, text: str) -> list[int]:
        return [p.id for p in self.tokenize(text)]
