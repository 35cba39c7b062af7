"""Property tests (Hypothesis) of the pure NLU parts: the tokenizer's character offsets on arbitrary
Unicode, BIO tags <-> spans, the Viterbi decoder under the BIO grammar, and the annotated-example and
project data-set formats."""
from __future__ import annotations

import string
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from nlu import dataset
from nlu.dataset import Dataset, Example, Span
from nlu.spans import bio_grammar, decode_entities, encode_tags, tag_labels, viterbi
from nlu.tokenizer import Piece, WordPieceTokenizer, split_words, split_words_unicode
from training_jobs.pretrained import vocab_path

# Deterministic and database-less: the same examples on every run and every machine.
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
                    phases=[p for p in Phase if p is not Phase.explain],  # explaining re-runs under a tracer: slow
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@lru_cache(maxsize=1)
def tokenizer() -> WordPieceTokenizer:
    """The real pretrained vocabulary, no truncation (so every word of a text gets its pieces)."""
    return WordPieceTokenizer.from_file(str(vocab_path()), max_tokens=1_000_000)


# ---- strategies ----------------------------------------------------------------------------------

TRICKY = (
    "日本語中文字한국어ｶﾀｶﾅ"  # CJK ideographs, Hangul syllables (several jamo each), half-width kana
    "\u0301\u0308\u0327\u20dd"  # combining marks, alone or after a letter
    "🎉👍🏽\u200d\ufe0f🇫🇷"  # emoji, skin tone, zero-width joiner, variation selector, flags
    "\x00\x07\x1b\x7f\u200b\u00ad\ufeff\ufffd\ud800\udfff"  # control, format, replacement, lone surrogates
    " \t\n\r\x0b\x0c\u00a0\u2028\u2029\u3000\x85"  # whitespace of every kind
    "İßǅﬁÅΣς"  # letters whose lower case or decomposition changes length
    "-.,!?'()[]{}@#$%&*+/:;<=>\\^_`|~—«»¿"  # punctuation
)
chars = st.one_of(st.characters(), st.sampled_from(TRICKY), st.sampled_from(string.ascii_letters + "  "))
# a data-set file is UTF-8, which has no lone surrogates (the catalogue refuses them at save time)
file_chars = chars.filter(lambda c: not "\ud800" <= c <= "\udfff")


def strings(alphabet, min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    """Text over exactly this alphabet (st.text drops lone surrogates, which a JSON body can carry)."""
    return st.lists(alphabet, min_size=min_size, max_size=max_size).map("".join)


texts = strings(chars, max_size=60)
entity_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,11}", fullmatch=True)


def _skipped(ch: str) -> bool:
    return ch not in "\t\n\r" and (ord(ch) in (0, 0xFFFD) or unicodedata.category(ch) in ("Cc", "Cf"))


def _folded(text: str) -> str:
    """What the tokenizer makes of characters: lower case, accents and control characters gone."""
    return "".join(c for ch in text if not _skipped(ch)
                   for c in unicodedata.normalize("NFD", ch.lower()) if unicodedata.category(c) != "Mn")


def _content(ch: str) -> bool:
    """A character that carries text: it must end up in exactly one word."""
    return not (_skipped(ch) or ch.isspace() or unicodedata.category(ch) == "Zs") and bool(_folded(ch))


def _separator(ch: str) -> bool:
    """Whitespace that ends a word (a control character that Python counts as space is dropped instead)."""
    return not _skipped(ch) and (ch.isspace() or unicodedata.category(ch) == "Zs")


def _words(pieces) -> list[tuple[int, int, list]]:
    """(start, end, pieces) of each word, in order."""
    out: dict[int, list] = {}
    for p in pieces:
        out.setdefault(p.word, []).append(p)
    return [(ps[0].start, ps[-1].end, ps) for _, ps in sorted(out.items())]


# ---- the tokenizer -------------------------------------------------------------------------------

@PROPERTY
@given(texts)
def test_pieces_lie_inside_the_text_in_order_and_map_back_to_what_was_tokenized(text):
    tok = tokenizer()
    pieces = tok.tokenize(text)
    for p in pieces:
        assert 0 <= p.start < p.end <= len(text), p
        assert _content(text[p.start]) and _content(text[p.end - 1]), p  # no piece starts or ends on a gap
    for p, q in zip(pieces, pieces[1:]):
        assert q.word in (p.word, p.word + 1), (p, q)
        # ordered and non-overlapping; two pieces of one word may only share a character that folds to
        # several (a Hangul syllable's jamo), since a character cannot be split
        shared = q.start == p.end - 1 and q.word == p.word and len(_folded(text[q.start])) > 1
        assert q.start >= p.end or shared, (p, q, text[p.start:q.end])
    words = _words(pieces)
    for (_, end, _), (start, _, _) in zip(words, words[1:]):
        assert end <= start  # words never share a character
    for start, end, ps in words:
        if [p.text for p in ps] == ["[UNK]"]:
            continue
        # the characters under the word are exactly what its pieces spell
        assert "".join(p.text.removeprefix("##") for p in ps) == _folded(text[start:end]), (start, end, ps)
    covered = {i for _, _, ps in words for p in ps for i in range(p.start, p.end)}
    assert not {i for i in covered if _separator(text[i])}  # no word runs over whitespace
    content = {i for i, ch in enumerate(text) if _content(ch)}
    assert covered & content == content  # nothing lost


@PROPERTY
@given(st.text(st.sampled_from(string.printable), max_size=60))
def test_the_ascii_fast_path_splits_exactly_like_the_unicode_path(text):
    assert [(w, list(ix)) for w, ix in split_words(text)] == split_words_unicode(text)



def draw_word_spans(draw, words: list[tuple[int, int]], names: list[str]) -> list[Span]:
    """Ordered, disjoint spans over runs of whole words, each with one of `names`."""
    spans, w = [], 0
    while w < len(words):
        if draw(st.booleans()):
            n = draw(st.integers(1, len(words) - w))
            spans.append(Span(words[w][0], words[w + n - 1][1], draw(st.sampled_from(names))))
            w += n
        else:
            w += 1
    return spans

@st.composite
def text_with_word_spans(draw):
    """A text and entity spans over whole words of it (ordered, disjoint)."""
    text = draw(texts.filter(lambda t: any(_content(ch) for ch in t)))
    words = _words(tokenizer().tokenize(text))
    names = draw(st.lists(entity_names, min_size=1, max_size=3, unique=True))
    return text, draw_word_spans(draw, words, names), names


@PROPERTY
@given(text_with_word_spans())
def test_a_span_on_word_boundaries_round_trips_through_tags(case):
    text, spans, names = case
    tags = tag_labels(names)
    pieces = tokenizer().tokenize(text)
    ids = encode_tags(pieces, spans, {t: i for i, t in enumerate(tags)})
    decoded = decode_entities(text, pieces, np.eye(len(tags))[ids], tags)
    assert [(e["start"], e["end"], e["entity"]) for e in decoded] == [(s.start, s.end, s.entity) for s in spans]
    assert [e["value"] for e in decoded] == [text[s.start:s.end] for s in spans]


# ---- BIO tags and the decoder --------------------------------------------------------------------

@st.composite
def tagged_words(draw):
    """Pieces of a text of words (1-3 pieces each), spans over whole words, and noisy per-piece tag
    probabilities in which each word's true tag is the most probable one."""
    names = draw(st.lists(entity_names, min_size=1, max_size=3, unique=True))
    tags = tag_labels(names)
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=20))
    pieces, pos = [], 0
    for w, n in enumerate(sizes):
        for k in range(n):
            pieces.append(Piece(1, "x" if k == 0 else "##x", pos, pos + 1, w))
            pos += 1
        pos += 1  # a space between words
    text = " ".join("x" * n for n in sizes)
    words = _words(pieces)
    spans = draw_word_spans(draw, words, names)
    index = {t: i for i, t in enumerate(tags)}
    ids = encode_tags(pieces, spans, index)
    noise = draw(st.lists(st.lists(st.floats(0, 1), min_size=len(tags), max_size=len(tags)),
                          min_size=len(pieces), max_size=len(pieces)))
    probs = np.array(noise)
    for i, k in enumerate(ids):
        probs[i, k] = probs[i].max() + draw(st.floats(1e-3, 1))
    return text, pieces, spans, tags, probs


@PROPERTY
@given(tagged_words())
def test_encode_then_decode_gives_the_spans_back(case):
    text, pieces, spans, tags, probs = case
    decoded = decode_entities(text, pieces, probs, tags)
    assert [(e["start"], e["end"], e["entity"]) for e in decoded] == [(s.start, s.end, s.entity) for s in spans]


def _bio_valid(path: list[int], tags: list[str]) -> bool:
    prev = "O"
    for k in path:
        tag = tags[k]
        if tag.startswith("I-") and prev not in (f"B-{tag[2:]}", tag):
            return False
        prev = tag
    return True


def _matrix(rows: int, columns: int, elements) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.lists(elements, min_size=columns, max_size=columns), min_size=rows, max_size=rows).map(
        lambda m: np.array(m, dtype=float))


@st.composite
def tag_probabilities(draw, elements):
    names = draw(st.lists(entity_names, min_size=1, max_size=3, unique=True))
    tags = tag_labels(names)
    return tags, draw(_matrix(draw(st.integers(1, 12)), len(tags), elements))


# ill-formed but finite: rows that do not sum to 1, zeros, ties, subnormals, values far above 1
finite_probs = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0, 1), st.floats(0, 1e300))


@PROPERTY
@given(tag_probabilities(finite_probs))
def test_viterbi_obeys_the_bio_grammar_for_any_finite_matrix(case):
    tags, probs = case
    path = viterbi(probs, *bio_grammar(tuple(tags)))
    assert len(path) == len(probs) and all(0 <= k < len(tags) for k in path)
    assert _bio_valid(path, tags), [tags[k] for k in path]


@PROPERTY
@given(tag_probabilities(st.one_of(finite_probs, st.sampled_from([float("nan"), float("inf")]))))
def test_viterbi_obeys_the_bio_grammar_even_for_non_finite_probabilities(case):
    """A model that outputs NaN (broken weights, an overflow) must not make the decoder break the grammar."""
    tags, probs = case
    path = viterbi(probs, *bio_grammar(tuple(tags)))
    assert _bio_valid(path, tags), (probs.tolist(), [tags[k] for k in path])


@PROPERTY
@given(st.lists(entity_names, min_size=1, max_size=3, unique=True),
       strings(chars, max_size=30).filter(lambda t: any(_content(ch) for ch in t)), st.data())
def test_decoded_entities_are_ordered_disjoint_whole_words_of_the_text(names, text, data):
    tags = tag_labels(names)
    pieces = tokenizer().tokenize(text)
    probs = data.draw(_matrix(len(pieces), len(tags), finite_probs))
    decoded = decode_entities(text, pieces, probs, tags)
    words = _words(pieces)
    starts, ends = {w[0] for w in words}, {w[1] for w in words}
    for e in decoded:
        assert e["start"] in starts and e["end"] in ends and e["start"] < e["end"], e
        assert e["value"] == text[e["start"]:e["end"]] and f"B-{e['entity']}" in tags
        assert 0.0 <= e["confidence"] <= max(1.0, float(probs.max()))
    for a, b in zip(decoded, decoded[1:]):
        assert a["end"] <= b["start"], (a, b)


# ---- the annotated-example format ----------------------------------------------------------------

plain = strings(st.one_of(chars, st.sampled_from("()")), max_size=20)
# an entity's value: anything but the format's brackets and parentheses, and not empty
values = strings(file_chars, min_size=1, max_size=12).filter(lambda v: not set(v) & set("[]()"))


@st.composite
def annotated_examples(draw, text_chars=plain):
    """An example whose plain text carries no [ or ] (the format has no escape for them)."""
    parts, spans, pos = [], [], 0
    for _ in range(draw(st.integers(0, 4))):
        before = draw(text_chars.filter(lambda t: not set(t) & set("[]")))
        value = draw(values)
        parts += [before, value]
        pos += len(before)
        spans.append(Span(pos, pos + len(value), draw(entity_names)))
        pos += len(value)
    parts.append(draw(text_chars.filter(lambda t: not set(t) & set("[]"))))
    return Example("".join(parts), "intent", tuple(spans))


@PROPERTY
@given(annotated_examples())
def test_format_then_parse_gives_the_example_back(example):
    raw = dataset.format_annotated(example)
    assert dataset.parse_annotated(raw) == (example.text, example.entities)
    text, spans = dataset.parse_annotated(raw)
    assert dataset.format_annotated(Example(text, "intent", spans)) == raw


@PROPERTY
@given(strings(st.one_of(chars, st.sampled_from("[]()")), max_size=40))
def test_parse_then_format_gives_the_raw_text_back_or_a_value_error(raw):
    try:
        text, spans = dataset.parse_annotated(raw)
    except ValueError:
        return
    assert dataset.format_annotated(Example(text, "intent", spans)) == raw
    assert dataset.parse_annotated(raw) == (text, spans)


@PROPERTY
@given(strings(chars, max_size=12), values, entity_names, strings(chars, max_size=12))
def test_a_value_or_text_with_brackets_is_refused_never_misread(before, value, entity, after):
    """Brackets in the plain text cannot be written; format_annotated's output must then fail to parse
    rather than parse into another example."""
    example = Example(before + value + after, "intent", (Span(len(before), len(before) + len(value), entity),))
    raw = dataset.format_annotated(example)
    try:
        parsed = dataset.parse_annotated(raw)
    except ValueError:
        assert set(before + after) & set("[]")
        return
    assert parsed == (example.text, example.entities)


# ---- the project's data-set format ---------------------------------------------------------------

@lru_cache(maxsize=1)
def _scratch() -> Path:
    """One folder for the whole module (a folder per example would dominate the run time)."""
    folder = tempfile.TemporaryDirectory(prefix="switchboard-properties-")
    _SCRATCH.append(folder)  # removed when the interpreter exits
    return Path(folder.name)


_SCRATCH: list[tempfile.TemporaryDirectory] = []


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


file_plain = strings(st.one_of(file_chars, st.sampled_from("()")), max_size=20)


@st.composite
def datasets(draw, intent_names=strings(file_chars, min_size=1, max_size=10), text_chars=file_plain):
    """A train split whose utterances are all distinct (as read_project requires), every entity declared,
    synonym tables keyed by lower-case alternatives (as read_project keys them)."""
    intents = draw(st.lists(intent_names, min_size=1, max_size=4, unique=True))
    examples = draw(st.lists(
        st.tuples(annotated_examples(text_chars).filter(lambda e: e.text.strip()), st.sampled_from(intents)).map(
            lambda ei: Example(ei[0].text, ei[1], ei[0].entities)),
        min_size=1, max_size=8, unique_by=lambda e: _norm(e.text)))
    used = {s.entity for e in examples for s in e.entities}
    names = used | set(draw(st.lists(entity_names, max_size=2)))
    alternatives = strings(file_chars, min_size=1, max_size=10).filter(lambda a: a.lower() == a)
    synonyms = {n: draw(st.dictionaries(alternatives, strings(file_chars, min_size=1, max_size=10), max_size=3))
                for n in sorted(names)}
    return Dataset({"train": examples}, synonyms)


@settings(PROPERTY, max_examples=100)
@given(datasets())
def test_write_project_then_read_project_gives_the_same_data_set(data):
    path = _scratch() / "data.yml"
    dataset.write_project(data, path)
    back = dataset.read_project(path)
    written = sorted(data.splits["train"], key=lambda e: e.intent)  # grouped by intent, order kept within
    assert back.splits["train"] == written
    assert back.intents == data.intents and back.entities == data.entities
    assert back.synonyms == data.synonyms
    assert back.fingerprint() == Dataset({"train": written}, data.synonyms).fingerprint()
