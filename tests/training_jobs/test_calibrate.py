"""The choices made on validation after fitting: the cascade's cut, the out-of-scope curve and AUROC."""
import numpy as np
import pytest

from training_jobs.calibrate import ALL_ESCALATED, auroc, choose_cut, min_texts, oos_curve, threshold_for


def test_the_cut_is_the_lowest_that_keeps_the_cascade_within_the_budget():
    # 1,000 texts: the fast tier is right on all it is sure of (>= 0.9), wrong on half of the rest;
    # the transformer is right on everything but two
    sure = [0.95] * 800 + [0.5] * 200
    fast_right = [True] * 800 + [True, False] * 100
    slow_right = [True] * 998 + [False] * 2
    cut = choose_cut(sure, fast_right, slow_right)
    assert cut == 0.95  # below it the fast tier would cost 10 points; at it, nothing
    escalated = np.mean(np.array(sure) < cut)
    assert escalated == pytest.approx(0.2)


def test_a_cut_may_cost_at_most_0_2_points():
    sure = [0.99] * 500 + [0.8] * 500
    fast_right = [True] * 500 + [True] * 498 + [False] * 2  # two fast mistakes among the 0.8s: 0.2 points
    slow_right = [True] * 1000
    assert choose_cut(sure, fast_right, slow_right) == 0.8
    fast_right[-3] = False  # a third: 0.3 points, over the budget
    assert choose_cut(sure, fast_right, slow_right) == 0.99


def test_a_small_validation_split_escalates_everything():
    """24 lucky answers (the demo catalogue's validation split) cannot show a 0.2-point budget."""
    n = min_texts() - 1
    assert choose_cut([0.99] * n, [True] * n, [True] * n) == ALL_ESCALATED
    assert choose_cut([0.99] * (n + 1), [True] * (n + 1), [True] * (n + 1)) == 0.99


def test_equal_confidences_are_never_split_by_a_cut():
    sure = [0.9] * 600
    fast_right = [True] * 599 + [False] * 1
    slow_right = [True] * 598 + [False] * 2
    assert choose_cut(sure, fast_right, slow_right) == 0.9


def test_auroc_is_the_chance_an_in_scope_text_scores_higher():
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1, 0.2], [0.9, 0.8]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5  # ties count half
    assert auroc([0.9, 0.3], [0.5]) == 0.5
    assert auroc([0.9], []) is None


def test_the_curve_runs_from_no_threshold_to_rejecting_everything():
    rng = np.random.default_rng(0)
    inside, outside = rng.uniform(0.5, 1.0, 200), rng.uniform(0.0, 0.6, 50)
    scores = list(inside) + list(outside)
    correct = [True] * 180 + [False] * 20 + [False] * 50
    is_oos = [False] * 200 + [True] * 50
    curve = oos_curve(scores, correct, is_oos)
    first, last = curve["points"][0], curve["points"][-1]
    assert first == {"threshold": 0.0, "in_scope_accuracy": 0.9, "oos_recall": 0.0}
    assert last["oos_recall"] > 0.95 and last["in_scope_accuracy"] < 0.05
    recalls = [p["oos_recall"] for p in curve["points"]]
    assert recalls == sorted(recalls)
    assert 0.9 < curve["auroc"] < 1.0


def test_the_threshold_rule_reads_any_score_in_scope_direction():
    scores = [0.9] * 95 + [0.2] * 5 + [0.1] * 30
    correct = [True] * 100 + [False] * 30
    is_oos = [False] * 100 + [True] * 30
    assert threshold_for(scores, correct, is_oos) == 0.2  # rejects the out-of-scope texts, costs nothing
