"""Metrics and the out-of-scope threshold, on hand-made numbers."""
from training_jobs.metrics import choose_threshold, entity_metrics, intent_metrics


def test_threshold_gives_up_at_most_one_point_of_in_scope_accuracy():
    in_conf = [0.9] * 90 + [0.3] * 5 + [0.2] * 5  # 100 in-scope: 95 right (0.3s and 0.9s), 5 wrong
    correct = [True] * 90 + [True] * 5 + [False] * 5
    oos = [0.25] * 10 + [0.5] * 10
    t = choose_threshold(in_conf, correct, oos)
    assert 0.2 < t <= 0.3  # rejecting the 0.3s would cost 5 points; the 0.2s (all wrong) cost none
    assert choose_threshold(in_conf, correct, oos, max_in_scope_drop=0.05) == 0.9  # every oos rejected


def test_intent_metrics_separate_in_scope_and_out_of_scope():
    gold = ["a", "a", "b", "oos", "oos"]
    pred = ["a", "b", "b", "oos", "a"]
    m = intent_metrics(gold, pred)
    assert m["intent_accuracy"] == 0.6
    assert m["in_scope_accuracy"] == round(2 / 3, 4)
    assert m["oos_recall"] == 0.5
    assert m["most_confused"][0]["count"] == 1
    assert m["per_intent_f1"]["b"] == round(2 * 0.5 * 1 / 1.5, 4)


def test_entity_metrics_count_exact_spans_only():
    gold = [[(0, 3, "colour"), (4, 9, "product")], [(0, 6, "order_id")]]
    pred = [[(0, 3, "colour"), (4, 8, "product")], [(0, 6, "order_id"), (7, 9, "brand")]]
    m = entity_metrics(gold, pred)
    assert (m["entity_precision"], m["entity_recall"]) == (0.5, round(2 / 3, 4))
