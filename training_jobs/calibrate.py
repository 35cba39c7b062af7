"""Choices made on the validation split after fitting, over plain data: the out-of-scope threshold,
the detector's curve, and the cascade's cut."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import choose_threshold

CASCADE_MAX_DROP = 0.002  # the cascade may be this much less accurate than the transformer alone, on validation
ALL_ESCALATED = 1.0001  # a cut above every confidence: the transformer answers every text


def min_texts(max_drop: float = CASCADE_MAX_DROP) -> int:
    """Validation texts needed before one text is within the cascade's budget."""
    return int(round(1 / max_drop))


def threshold_for(scores: Sequence[float], correct: Sequence[bool], is_oos: Sequence[bool],
                  max_in_scope_drop: float = 0.01) -> float:
    """`metrics.choose_threshold` over any in-scope score in [0, 1] (a confidence, the detector's score)."""
    conf_in = [s for s, o in zip(scores, is_oos) if not o]
    right = [c for c, o in zip(correct, is_oos) if not o]
    conf_oos = [s for s, o in zip(scores, is_oos) if o]
    return choose_threshold(conf_in, right, conf_oos, max_in_scope_drop)


def auroc(in_scope: Sequence[float] | np.ndarray, oos: Sequence[float] | np.ndarray) -> float | None:
    """Probability that an in-scope text scores above an out-of-scope one (ties count half)."""
    if not len(in_scope) or not len(oos):
        return None
    scores = np.concatenate([np.asarray(in_scope, float), np.asarray(oos, float)])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_in, n_oos = len(in_scope), len(oos)
    return round(float((ranks[:n_in].sum() - n_in * (n_in + 1) / 2) / (n_in * n_oos)), 4)


def oos_curve(scores: Sequence[float], correct: Sequence[bool], is_oos: Sequence[bool], points: int = 41) -> dict:
    """In-scope accuracy against out-of-scope recall as the threshold on `scores` rises, and AUROC.

    A text below the threshold is called out of scope: an in-scope one then counts as wrong, an
    out-of-scope one as caught (`correct` says whether an in-scope text's intent was right)."""
    score, right, oos = np.asarray(scores, float), np.asarray(correct, bool), np.asarray(is_oos, bool)
    inside, outside = score[~oos], score[oos]
    if not len(inside):
        return {"auroc": None, "points": []}
    thresholds = np.unique(np.quantile(score, np.linspace(0, 1, points)))
    curve = [{"threshold": round(float(t), 4),
              "in_scope_accuracy": round(float(np.mean(right[~oos] & (inside >= t))), 4),
              "oos_recall": round(float(np.mean(outside < t)), 4) if len(outside) else None}
             for t in np.concatenate([[0.0], thresholds])]
    return {"auroc": auroc(inside, outside), "points": curve}


def choose_cut(fast_confidence: Sequence[float], fast_correct: Sequence[bool], transformer_correct: Sequence[bool],
               max_drop: float = CASCADE_MAX_DROP) -> float:
    """The lowest cut on the fast tier's confidence at which the cascade (fast answers at or above
    it, the transformer below) is at most `max_drop` less accurate than the transformer alone on
    validation (`correct`: the whole parse, intent and entities, was right). Above every
    confidence (ALL_ESCALATED) the transformer answers everything, as it does when validation has
    fewer than 1 / max_drop texts: one text is then more than the budget, and a cut chosen on a
    couple of dozen lucky answers would hand a small catalogue to the less accurate tier."""
    conf = np.asarray(fast_confidence, float)
    fast_ok, slow_ok = np.asarray(fast_correct, bool), np.asarray(transformer_correct, bool)
    n = len(conf)
    if n < min_texts(max_drop):
        return ALL_ESCALATED
    floor = slow_ok.mean() - max_drop - 1e-9
    order = np.argsort(-conf, kind="stable")  # most confident first: raising the cut escalates from the bottom
    # accuracy when the k most confident texts are answered by the fast tier
    fast_prefix = np.concatenate([[0], np.cumsum(fast_ok[order])])
    slow_suffix = np.concatenate([np.cumsum(slow_ok[order][::-1])[::-1], [0]])
    accuracy = (fast_prefix + slow_suffix) / n
    best = ALL_ESCALATED
    for k in range(1, n + 1):  # k texts answered fast means a cut at the k-th highest confidence
        if k < n and conf[order[k]] == conf[order[k - 1]]:
            continue  # a cut cannot separate equal confidences
        if accuracy[k] >= floor:
            best = float(conf[order[k - 1]])
    return best
