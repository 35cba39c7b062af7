"""Evaluate an artifact through the serving code path (`Model.parse`), not a training shortcut."""
from __future__ import annotations

from collections.abc import Sequence

from nlu.artifact import Model
from nlu.dataset import Example

from .metrics import entity_metrics, intent_metrics


def predict(model: Model, examples: Sequence[Example], batch_size: int = 256) -> list[dict]:
    out: list[dict] = []
    for i in range(0, len(examples), batch_size):
        out.extend(model.parse([e.text for e in examples[i:i + batch_size]]))
    return out


def evaluate(model: Model, examples: Sequence[Example], parsed: list[dict] | None = None) -> dict:
    parsed = parsed if parsed is not None else predict(model, examples)
    result = intent_metrics([e.intent for e in examples], [p["intent"]["name"] for p in parsed], model.oos_label)
    result.update(entity_metrics(
        [[(s.start, s.end, s.entity) for s in e.entities] for e in examples],
        [[(x["start"], x["end"], x["entity"]) for x in p["entities"]] for p in parsed],
    ))
    return result


SPLITS = ("train", "val", "test")


def summary(metrics: dict) -> dict:
    """Each split's headline from an artifact's metrics.json."""
    return {split: headline(m) for split, m in metrics.items() if split in SPLITS}


def headline(metrics: dict) -> dict:
    """The figures worth a line in a log or a README table."""
    keys = ("intent_accuracy", "in_scope_accuracy", "oos_recall", "intent_macro_f1", "entity_f1")
    return {k: metrics[k] for k in keys if metrics.get(k) is not None}
