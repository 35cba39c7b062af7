"""Tokenisation keeps exact character offsets into the original text; spans survive the round trip."""
from __future__ import annotations

import numpy as np
import pytest

from nlu.dataset import Span
from nlu.spans import decode_entities, encode_tags, tag_labels
from nlu.tokenizer import WordPieceTokenizer
from training_jobs.pretrained import vocab_path


@pytest.fixture(scope="module")
def tok() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_file(str(vocab_path()))


@pytest.mark.parametrize("text", [
    "Where is my order A-1234?",
    "  leading   and repeated   spaces\t\ttabs ",
    "Café Zoë's naïve crème brûlée — 25€!",
    "日本語のテキスト and emoji 🎉 mixed",
    "ÀÉÎÕÜ upper-case accents; punctuation... (brackets) [x]",
    "zero\u200bwidth and control\x07chars",
])
def test_every_piece_points_at_its_own_characters(tok, text):
    pieces = tok.tokenize(text)
    assert pieces, "non-blank text yields pieces"
    for p in pieces:
        original = text[p.start:p.end]
        assert original.strip() == original and original, (p, original)
        folded = p.text.removeprefix("##")
        if p.text != "[UNK]":
            # the piece is the lower-cased, accent-stripped form of exactly those characters
            import unicodedata
            norm = "".join(c for c in unicodedata.normalize("NFD", original.lower())
                           if unicodedata.category(c) != "Mn")
            assert norm == folded, (p, original)
    starts = [p.start for p in pieces]
    assert starts == sorted(starts)


def test_words_split_into_pieces_share_a_word_index(tok):
    pieces = tok.tokenize("unaffable rebooking")
    assert len(pieces) > 2
    assert {p.word for p in pieces} == {0, 1}
    assert pieces[1].text.startswith("##")


def test_max_tokens_truncates(tok):
    short = WordPieceTokenizer(tok.vocab, max_tokens=4)
    assert len(short.tokenize("one two three four five six")) == 4


@pytest.mark.parametrize("text, spans", [
    ("where is order A-1234 please", [Span(15, 21, "order_id")]),
    ("show me  Crème   Brûlée  jackets by Levi's", [Span(9, 23, "colour"), Span(36, 42, "brand")]),
    ("red", [Span(0, 3, "colour")]),
])
def test_spans_round_trip_through_tags(tok, text, spans):
    tags = tag_labels({s.entity for s in spans} | {"product"})
    index = {t: i for i, t in enumerate(tags)}
    pieces = tok.tokenize(text)
    ids = encode_tags(pieces, spans, index)
    probs = np.eye(len(tags))[ids]  # a model that is certain of exactly these tags
    decoded = decode_entities(text, pieces, probs, tags)
    assert [(e["start"], e["end"], e["entity"]) for e in decoded] == [(s.start, s.end, s.entity) for s in spans]
    assert [e["value"] for e in decoded] == [text[s.start:s.end] for s in spans]
    assert all(e["confidence"] == 1.0 for e in decoded)


def test_decode_maps_synonyms_to_their_value(tok):
    text = "anything in Crimson"
    tags = tag_labels({"colour"})
    pieces = tok.tokenize(text)
    ids = encode_tags(pieces, [Span(12, 19, "colour")], {t: i for i, t in enumerate(tags)})
    decoded = decode_entities(text, pieces, np.eye(len(tags))[ids], tags, {"colour": {"crimson": "red"}})
    assert decoded[0]["value"] == "red" and text[decoded[0]["start"]:decoded[0]["end"]] == "Crimson"


def test_decoding_obeys_the_bio_grammar(tok):
    """A stray I- after O is not a span of its own: the best legal sequence wins."""
    text = "play the song by Queen"
    tags = tag_labels({"artist"})  # O, B-artist, I-artist
    pieces = tok.tokenize(text)
    probs = np.full((len(pieces), 3), 0.05)
    probs[:, 0] = 0.9
    probs[3] = [0.40, 0.15, 0.45]  # "by": argmax is a stray I-artist
    probs[4] = [0.05, 0.90, 0.05]  # "Queen": B-artist
    decoded = decode_entities(text, pieces, probs, tags)
    assert [(e["value"], e["entity"]) for e in decoded] == [("Queen", "artist")]


def test_ascii_fast_path_splits_exactly_like_the_unicode_path():
    import random
    import string

    from nlu.tokenizer import split_words, split_words_unicode

    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "    "
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        fast = [(w, list(ix)) for w, ix in split_words(text)]
        assert fast == split_words_unicode(text), text
