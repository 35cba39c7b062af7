"""Property tests (Hypothesis) of the queue envelope: any valid envelope survives encoding (as text and as
the UTF-8 bytes a queue carries), and whatever else a queue hands over is refused with PermanentError,
never another exception (a PermanentError is parked at once; anything else is retried until poison)."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from switchboard.envelope import MAX_TEXT_CHARS, Envelope, check_id
from switchboard.errors import PermanentError

# Deterministic and database-less: the same examples on every run and every machine.
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
                    phases=[p for p in Phase if p is not Phase.explain],  # explaining re-runs under a tracer: slow
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

REQUIRED = ("turn_id", "channel", "conversation_id", "user_id", "text")
TRICKY = "日本語한국어\u0301🎉👍🏽\u200d\x00\x07\x1b\u200b\ufeff\ufffd \t\n\r\u00a0\u2028\x85\"\\/{}[]:,"

# Unicode scalar values (st.text leaves out lone surrogates; see the last test for those)
unicode_text = st.text(st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=40)
ids = st.from_regex(r"[A-Za-z0-9._:@-]{1,200}", fullmatch=True).map(lambda s: check_id("id", s))
numbers = st.one_of(st.integers(-2**63, 2**63), st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, unicode_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(unicode_text, inner, max_size=3)),
    max_leaves=12)
optional_text = st.one_of(st.none(), unicode_text)

envelopes = st.builds(
    Envelope,
    turn_id=ids, channel=st.sampled_from(["sendbird", "webchat"]), conversation_id=ids, user_id=ids,
    text=st.text(st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=MAX_TEXT_CHARS),
    received_at=st.floats(0, 4e12),
    channel_data=st.dictionaries(unicode_text, json_values, max_size=3),
    traceparent=unicode_text,
    nlu=st.one_of(st.none(), st.dictionaries(unicode_text, json_values, max_size=4)),
    branch=optional_text, reply=optional_text, error=optional_text,
    timings=st.dictionaries(unicode_text, st.floats(0, 1e7), max_size=4),
)


@PROPERTY
@given(envelopes)
def test_an_envelope_encoded_then_decoded_is_the_same_envelope(envelope):
    encoded = envelope.to_json()
    assert Envelope.from_json(encoded) == envelope
    assert Envelope.from_json(encoded.encode("utf-8")) == envelope  # what a queue message carries
    assert Envelope.from_json(Envelope.from_json(encoded).to_json()).to_json() == encoded


def _without(envelope: Envelope, name: str) -> str:
    """`envelope` as JSON less one of the fields every envelope has: the nearest thing to an envelope."""
    fields = json.loads(envelope.to_json())
    del fields[name]
    return json.dumps(fields)


def _might_be_an_envelope(fields: dict) -> bool:
    """Whether random fields have drawn all an envelope needs (they are then no input for a refusal)."""
    return set(REQUIRED) <= fields.keys() and type(fields.get("schema")) is int and fields["schema"] == 1


@PROPERTY
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), unicode_text.map(str.encode),
                 json_values.map(json.dumps), json_values.map(lambda v: json.dumps(v).encode("utf-16")),
                 st.dictionaries(st.sampled_from(REQUIRED + ("schema", "nlu", "x")), json_values)
                 .filter(lambda fields: not _might_be_an_envelope(fields)).map(json.dumps),
                 st.builds(_without, envelopes, st.sampled_from(REQUIRED + ("schema",))),
                 st.sampled_from(["", "null", "[]", '{"schema":1}', '{"schema":"1"}', "NaN", "1e999", "9" * 5000,
                                  b"\xff\xfe{", b"\xef\xbb\xbf{}", '{"schema":1,"schema":2}'])))
@example(_without(Envelope("t", "webchat", "c", "u", "hi"), "schema"))  # the one check no other one backs up
@example(Envelope("t", "webchat", "c", "u", "hi").to_json().replace('"schema":1', '"schema":true'))  # true == 1
@example(Envelope("t", "webchat", "c", "u", "hi").to_json().replace('"schema":1', '"schema":1.0'))
def test_anything_that_is_not_an_envelope_is_refused_with_permanent_error(raw):
    with pytest.raises(PermanentError):
        Envelope.from_json(raw)


@PROPERTY
@given(st.sampled_from(["[", '{"a":', '{"schema":1,"turn_id":"t","channel":"webchat","conversation_id":"c",'
                                      '"user_id":"u","text":"hi","channel_data":{"x":']),
       st.sampled_from([1, 10, 100, 100_000]))
def test_deeply_nested_json_is_refused_with_permanent_error(opening, depth):
    """A queue message is not trusted to be small or shallow: nesting is refused like any other bad JSON."""
    with pytest.raises(PermanentError):
        Envelope.from_json(opening * depth)


wrong_types = {
    "turn_id": st.one_of(st.none(), numbers, st.booleans(), st.lists(ids, max_size=1)),
    "channel": st.one_of(st.none(), numbers, st.dictionaries(ids, ids, max_size=1)),
    "conversation_id": st.one_of(st.none(), numbers, st.lists(ids, max_size=1)),
    "user_id": st.one_of(st.none(), numbers, st.booleans()),
    "text": st.one_of(st.none(), numbers, st.lists(unicode_text, max_size=2), st.dictionaries(ids, ids, max_size=1)),
    "received_at": st.one_of(st.none(), unicode_text, st.lists(numbers, max_size=1)),
    "channel_data": st.one_of(st.none(), numbers, unicode_text, st.lists(numbers, max_size=1)),
    "timings": st.one_of(st.none(), numbers, unicode_text, st.lists(numbers, max_size=1)),
}


@PROPERTY
@given(envelopes, st.sampled_from(sorted(wrong_types)), st.data())
def test_an_envelope_with_a_field_of_the_wrong_type_is_refused_with_permanent_error(envelope, name, data):
    """Every step reads these fields as their declared types: a message that breaks them can never be
    processed, so it must be refused at decoding (and parked at once), not fail later as a TypeError."""
    fields = json.loads(envelope.to_json())
    fields[name] = data.draw(wrong_types[name], label=name)
    try:
        decoded = Envelope.from_json(json.dumps(fields))
    except PermanentError:
        return
    raise AssertionError(f"decoded an envelope with {name}={getattr(decoded, name)!r}")


@PROPERTY
@given(st.lists(st.one_of(st.characters(), st.sampled_from("\ud800\udfff\ud83c")), min_size=1, max_size=20)
       .map("".join))
def test_an_envelope_of_any_text_a_json_body_can_carry_encodes_to_utf8(text):
    """json.loads turns a "\\ud800" escape into a lone surrogate; the channels accept any string as the
    customer's text, and the queue sends the envelope as UTF-8."""
    text = json.loads(json.dumps(text))  # what a channel gets from a JSON body
    envelope = Envelope("webchat:c:m", "webchat", "c", "web:c", text)
    encoded = envelope.to_json().encode("utf-8")
    assert Envelope.from_json(encoded) == envelope
