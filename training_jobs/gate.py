"""The gate between a newly trained version and production, over plain data.

Both versions parse the catalogue's held-out examples (`nlu.dataset.gate_split`: never trained on
by the new version; nor by production when it was trained on the catalogue, save the few examples an
intent's growing held-out share takes in from what an older version trained on, which can only flatter
production). The new version passes when its intent
accuracy and its entity F1 are not worse than production's beyond the tolerance, on the examples of
the intents both know (plus out-of-scope ones), and every intent production does not know reaches
the floor F1 on its own held-out examples. The tolerance is never less than one held-out example's
share, so a small catalogue's gate does not turn on a single utterance (on 49 held-out examples it is
2 points, on 20 it is 5: a small catalogue's gate is coarse, and says so in `tolerance`). An intent
with 4 examples or fewer has none held out: it counts for nothing here, and a new one fails the gate.
Every intent whose F1 fell by more than 5 points is listed, pass or fail.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nlu.dataset import OOS, Example

from .metrics import entity_metrics, intent_metrics

DROP_LISTED = 0.05  # an intent whose F1 fell by more than this is listed


@dataclass(frozen=True)
class GateRules:
    tolerance: float = 0.01  # accuracy and entity F1 may be this much worse (1 point)
    new_intent_floor: float = 0.6  # F1 each intent production does not know must reach


def _scores(examples: Sequence[Example], parsed: Sequence[dict]) -> dict:
    result = intent_metrics([e.intent for e in examples], [p["intent"]["name"] for p in parsed], OOS)
    result.update(entity_metrics(
        [[(s.start, s.end, s.entity) for s in e.entities] for e in examples],
        [[(x["start"], x["end"], x["entity"]) for x in p["entities"]] for p in parsed]))
    return result


def compare(held_out: Sequence[Example], new: Sequence[dict], production: Sequence[dict] | None,
            new_intents: Sequence[str], production_intents: Sequence[str], rules: GateRules = GateRules()) -> dict:
    """The gate's verdict. `new` and `production` are the two versions' parses of `held_out`
    (`production` None: there is no production version, and the new one passes)."""
    shared = (set(new_intents) & set(production_intents)) | {OOS}
    added = sorted(set(new_intents) - set(production_intents) - {OOS})
    removed = sorted(set(production_intents) - set(new_intents) - {OOS})
    rows = [i for i, e in enumerate(held_out) if e.intent in shared]
    on_shared = [held_out[i] for i in rows]
    if production is None:
        return {"passed": True, "reasons": ["there is no production version yet"], "examples": len(held_out),
                "new": _headline(_scores(held_out, new)), "production": None, "added_intents": added,
                "removed_intents": removed, "dropped_intents": [], "new_intent_f1": {}}
    if not on_shared:
        return {"passed": False, "reasons": ["the held-out set has no examples of the intents both versions know"],
                "examples": 0, "new": None, "production": None, "added_intents": added,
                "removed_intents": removed, "dropped_intents": [], "new_intent_f1": {}}
    mine = _scores(on_shared, [new[i] for i in rows])
    theirs = _scores(on_shared, [production[i] for i in rows])
    allowed = max(rules.tolerance, 1.0 / len(on_shared))
    reasons = []
    if mine["intent_accuracy"] < theirs["intent_accuracy"] - allowed - 1e-9:
        reasons.append(f"intent accuracy {mine['intent_accuracy']:.1%} is below production's "
                       f"{theirs['intent_accuracy']:.1%} by more than {allowed:.1%}")
    if theirs["entity_support"]:
        entity_allowed = max(rules.tolerance, 1.0 / theirs["entity_support"])
        if mine["entity_f1"] < theirs["entity_f1"] - entity_allowed - 1e-9:
            reasons.append(f"entity F1 {mine['entity_f1']:.1%} is below production's {theirs['entity_f1']:.1%} "
                           f"by more than {entity_allowed:.1%}")
    dropped = sorted(
        ({"intent": name, "new": mine["per_intent_f1"].get(name, 0.0), "production": f1}
         for name, f1 in theirs["per_intent_f1"].items()
         if name in {e.intent for e in on_shared} and f1 - mine["per_intent_f1"].get(name, 0.0) > DROP_LISTED),
        key=lambda d: d["new"] - d["production"])
    everything = _scores(held_out, new)
    new_f1 = {}
    for name in added:
        if not any(e.intent == name for e in held_out):
            reasons.append(f"new intent {name} has no held-out examples to check it on: give it at least 5 examples")
            continue
        new_f1[name] = everything["per_intent_f1"].get(name, 0.0)
        if new_f1[name] < rules.new_intent_floor:
            reasons.append(f"new intent {name} reaches F1 {new_f1[name]:.1%}, below the floor "
                           f"{rules.new_intent_floor:.1%}")
    return {"passed": not reasons, "reasons": reasons or ["not worse than production"],
            "examples": len(on_shared), "tolerance": round(allowed, 4), "new": _headline(mine),
            "production": _headline(theirs), "added_intents": added, "removed_intents": removed,
            "dropped_intents": dropped, "new_intent_f1": new_f1,
            # the same held-out examples, both versions: what the Models page shows side by side
            "per_intent_f1": {"new": {**mine["per_intent_f1"], **new_f1}, "production": theirs["per_intent_f1"]},
            "most_confused": {"new": everything["most_confused"], "production": theirs["most_confused"]}}


def _headline(scores: dict) -> dict:
    keys = ("intent_accuracy", "intent_macro_f1", "oos_recall", "entity_f1", "entity_support")
    return {k: scores.get(k) for k in keys}
