"""The gate between a new version and production, over plain data: accuracy and entity F1 within the
tolerance, compared on the intents both know, each new intent over its floor, drops listed."""
from __future__ import annotations

from nlu.dataset import Example, Span
from training_jobs.gate import GateRules, compare


def ex(text: str, intent: str, *spans: tuple[int, int, str]) -> Example:
    return Example(text, intent, tuple(Span(a, b, e) for a, b, e in spans))


def parse(intent: str, *spans: tuple[int, int, str]) -> dict:
    return {"intent": {"name": intent}, "entities": [{"start": a, "end": b, "entity": e} for a, b, e in spans]}


HELD = [ex(f"order {i}", "order") for i in range(50)] + [ex(f"hi {i}", "greet") for i in range(50)]
RIGHT = [parse(e.intent) for e in HELD]


def wrong(parsed: list[dict], n: int, held: list[Example] = HELD, intent: str = "order",
          to: str = "greet") -> list[dict]:
    """`n` of the `intent` examples taken for `to`."""
    out, left = [], n
    for e, p in zip(held, parsed):
        if e.intent == intent and left:
            out.append(parse(to))
            left -= 1
        else:
            out.append(p)
    return out


def test_not_worse_passes_and_a_drop_beyond_the_tolerance_fails_naming_it():
    same = compare(HELD, RIGHT, RIGHT, ["order", "greet"], ["order", "greet"])
    assert same["passed"] and same["reasons"] == ["not worse than production"] and same["tolerance"] == 0.01
    one_worse = compare(HELD, wrong(RIGHT, 1), RIGHT, ["order", "greet"], ["order", "greet"])
    assert one_worse["passed"]  # 1 of 100 = 1 point: within the tolerance
    two_worse = compare(HELD, wrong(RIGHT, 2), RIGHT, ["order", "greet"], ["order", "greet"])
    assert not two_worse["passed"] and "intent accuracy 98.0% is below production's 100.0%" in two_worse["reasons"][0]
    loose = compare(HELD, wrong(RIGHT, 2), RIGHT, ["order", "greet"], ["order", "greet"], GateRules(tolerance=0.05))
    assert loose["passed"]


def test_every_intent_whose_f1_fell_more_than_5_points_is_listed_even_when_it_passes():
    verdict = compare(HELD, wrong(RIGHT, 6), RIGHT, ["order", "greet"], ["order", "greet"], GateRules(tolerance=0.1))
    assert verdict["passed"]
    assert [d["intent"] for d in verdict["dropped_intents"]] == ["order", "greet"]  # worst first
    assert verdict["per_intent_f1"]["production"]["order"] == 1.0 > verdict["per_intent_f1"]["new"]["order"]


def test_entity_f1_is_gated_too():
    held = [ex("order A-1", "order", (6, 9, "order_id"))] * 40 + [ex("hi", "greet")] * 40
    right = [parse("order", (6, 9, "order_id"))] * 40 + [parse("greet")] * 40
    lost = [parse("order")] * 10 + [parse("order", (6, 9, "order_id"))] * 30 + [parse("greet")] * 40
    verdict = compare(held, lost, right, ["order", "greet"], ["order", "greet"])
    assert not verdict["passed"] and verdict["reasons"][0].startswith("entity F1")


def test_a_changed_label_set_is_compared_on_shared_intents_and_new_ones_meet_their_floor():
    held = HELD + [ex(f"repair {i}", "repairs") for i in range(10)]
    production = RIGHT + [parse("order")] * 10  # production has no `repairs`: not counted against it
    good = RIGHT + [parse("repairs")] * 10
    verdict = compare(held, good, production, ["order", "greet", "repairs"], ["order", "greet"])
    assert verdict["passed"] and verdict["examples"] == 100 and verdict["added_intents"] == ["repairs"]
    assert verdict["new_intent_f1"] == {"repairs": 1.0}
    weak = RIGHT + [parse("repairs")] * 4 + [parse("order")] * 6
    verdict = compare(held, weak, production, ["order", "greet", "repairs"], ["order", "greet"])
    assert not verdict["passed"] and "new intent repairs reaches F1 57.1%, below the floor 60.0%" in verdict["reasons"]


def test_a_new_intent_without_held_out_examples_fails_and_says_how_to_fix_it():
    verdict = compare(HELD, RIGHT, RIGHT, ["order", "greet", "tiny"], ["order", "greet"])
    assert not verdict["passed"] and "give it at least 5 examples" in verdict["reasons"][0]


def test_without_production_the_first_version_passes_and_a_small_set_widens_the_tolerance():
    first = compare(HELD, RIGHT, None, ["order", "greet"], [])
    assert first["passed"] and first["production"] is None
    small = HELD[:10] + HELD[50:60]
    verdict = compare(small, wrong([parse(e.intent) for e in small], 1, small), [parse(e.intent) for e in small],
                      ["order", "greet"], ["order", "greet"])
    assert verdict["passed"] and verdict["tolerance"] == 0.05  # one example of 20: never a single utterance
