"""Evaluation metrics over plain data: intents, out-of-scope, and span-level entity scores."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

Span = tuple[int, int, str]


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def intent_metrics(gold: Sequence[str], pred: Sequence[str], oos_label: str = "oos") -> dict:
    n = len(gold)
    in_scope = [(g, p) for g, p in zip(gold, pred) if g != oos_label]
    oos = [(g, p) for g, p in zip(gold, pred) if g == oos_label]
    labels = sorted(set(gold) | set(pred))
    tp, fp, fn = Counter(), Counter(), Counter()
    confusions = Counter()
    for g, p in zip(gold, pred):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
            confusions[(g, p)] += 1
    per_intent = {}
    for label in labels:
        prec = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        rec = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        per_intent[label] = round(_f1(prec, rec), 4)
    gold_labels = sorted(set(gold))
    return {
        "examples": n,
        "intent_accuracy": round(sum(g == p for g, p in zip(gold, pred)) / n, 4) if n else None,
        "in_scope_accuracy": round(sum(g == p for g, p in in_scope) / len(in_scope), 4) if in_scope else None,
        "oos_recall": round(sum(p == oos_label for _, p in oos) / len(oos), 4) if oos else None,
        "intent_macro_f1": round(sum(per_intent[label] for label in gold_labels) / len(gold_labels), 4) if n else None,
        "per_intent_f1": per_intent,
        "most_confused": [
            {"gold": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(10)
        ],
    }


def entity_metrics(gold: Iterable[Iterable[Span]], pred: Iterable[Iterable[Span]]) -> dict:
    """Exact span matches, micro-averaged (what conlleval reports)."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        g, p = set(g), set(p)
        tp += len(g & p)
        n_gold += len(g)
        n_pred += len(p)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return {
        "entity_precision": round(precision, 4),
        "entity_recall": round(recall, 4),
        "entity_f1": round(_f1(precision, recall), 4),
        "entity_support": n_gold,
    }


# The out-of-scope threshold (choose_threshold). With this many out-of-scope validation examples the
# threshold may cost the full in-scope budget (CLINC150's oos-threshold protocol); with none, only
# NO_OOS_MAX_DROP of it; in between, linearly more with each example.
MIN_OOS_EXAMPLES = 20
NO_OOS_MAX_DROP = 0.002


def choose_threshold(in_scope_conf: Sequence[float], in_scope_correct: Sequence[bool],
                     oos_conf: Sequence[float], max_in_scope_drop: float = 0.01,
                     min_oos_examples: int = MIN_OOS_EXAMPLES) -> float:
    """Confidence threshold from a validation split: guesses less confident than it are out of scope.

    A wrongly rejected request costs a customer more than a missed out-of-scope one, so the threshold
    may cost at most a budget of in-scope accuracy, and it takes all of it (the higher the threshold,
    the more out-of-scope requests it rejects):

    - At least MIN_OOS_EXAMPLES out-of-scope examples (CLINC150's oos-threshold protocol): the highest
      threshold losing at most `max_in_scope_drop` of validation in-scope accuracy against none.
    - Fewer: the validation split cannot show what a threshold buys, only what it costs, and a cost
      read off its least confident guesses is optimistic (SNIPS: 1 point on validation, 4.3 on
      test; on validation splits of 30, 5.3 points on average, up to 14). So the budget shrinks to
      NO_OOS_MAX_DROP without out-of-scope examples, growing linearly to `max_in_scope_drop` at
      MIN_OOS_EXAMPLES, and it is counted to hold on new requests: of the m correct validation
      guesses, the threshold is the j-th least confident with j = floor(budget * (m + 1)), under which
      a new correct guess falls with probability j / (m + 1) <= budget. No threshold (0.0) when j
      is 0, that is with no out-of-scope examples and fewer than 499 correct validation guesses.
    """
    n = len(in_scope_conf)
    if not n:
        return 0.0
    n_oos = len(oos_conf)
    if n_oos < min_oos_examples:  # 0: the protocol's rule whatever the count (what the rule was before)
        budget = NO_OOS_MAX_DROP + (max_in_scope_drop - NO_OOS_MAX_DROP) * n_oos / min_oos_examples
        right = sorted(round(c, 4) for c, ok in zip(in_scope_conf, in_scope_correct) if ok)
        j = int(budget * (len(right) + 1) + 1e-9)  # 0.002 * 500 is 1, whatever the rounding
        return right[j - 1] if j else 0.0
    floor = sum(in_scope_correct) / n - max_in_scope_drop
    best = 0.0
    for t in sorted(set(round(c, 4) for c in list(in_scope_conf) + list(oos_conf))):
        kept = sum(ok and c >= t for c, ok in zip(in_scope_conf, in_scope_correct)) / n
        if kept < floor:
            break
        best = t
    return best
