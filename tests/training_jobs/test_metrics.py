"""Metrics and the out-of-scope threshold, on hand-made numbers."""
from training_jobs.metrics import MIN_OOS_EXAMPLES, choose_threshold, entity_metrics, intent_metrics


def test_threshold_gives_up_at_most_one_point_of_in_scope_accuracy():
    in_conf = [0.9] * 90 + [0.3] * 5 + [0.2] * 5  # 100 in-scope: 95 right (0.3s and 0.9s), 5 wrong
    correct = [True] * 90 + [True] * 5 + [False] * 5
    oos = [0.25] * 10 + [0.5] * 10
    t = choose_threshold(in_conf, correct, oos)
    assert 0.2 < t <= 0.3  # rejecting the 0.3s would cost 5 points; the 0.2s (all wrong) cost none
    assert choose_threshold(in_conf, correct, oos, max_in_scope_drop=0.05) == 0.9  # every oos rejected



# 1,000 correct guesses at 0.5, 0.5005, ..., 0.9995 and 50 wrong ones at 0.1: 95.2 % in-scope accuracy
RIGHT = [round(0.5 + i / 2000, 4) for i in range(1000)]
IN_CONF, CORRECT = RIGHT + [0.1] * 50, [True] * 1000 + [False] * 50


def test_without_out_of_scope_examples_the_threshold_costs_at_most_0_2_percent_on_new_requests():
    # j = floor(0.002 * 1001) = 2: the second least confident correct guess (a new one falls below it
    # with probability 2/1001), not the eleventh (1 point of validation, what the old rule took)
    assert choose_threshold(IN_CONF, CORRECT, []) == 0.5005
    # fewer than 499 correct validation guesses cannot show a cost that small: no threshold at all
    small_conf = [0.9] * 95 + [0.6] * 3 + [0.2] * 2  # the old rule rejected the 0.2s (both wrong)
    assert choose_threshold(small_conf, [True] * 98 + [False] * 2, []) == 0.0
    assert choose_threshold(RIGHT[:498] + [0.1] * 50, [True] * 498 + [False] * 50, []) == 0.0
    assert choose_threshold(RIGHT[:499], [True] * 499, []) == 0.5


def test_a_few_out_of_scope_examples_buy_a_budget_growing_linearly_to_the_full_one():
    thresholds = [choose_threshold(IN_CONF, CORRECT, [0.05] * k) for k in (0, 10, 19, MIN_OOS_EXAMPLES, 100)]
    # budgets 0.2 %, 0.6 %, 0.96 % (the 6th, 9th least confident), then the full point: 10 of the
    # 1,050 in-scope examples, whatever the number of out-of-scope ones
    assert thresholds == [0.5005, 0.5025, 0.504, 0.505, 0.505]


def test_with_enough_out_of_scope_examples_the_rule_is_clinc150s_protocol():
    # with 20 or more, the highest threshold within 1 point of validation accuracy, as before
    oos = [0.3] * MIN_OOS_EXAMPLES
    assert choose_threshold(IN_CONF, CORRECT, oos) == 0.505
    assert choose_threshold(IN_CONF, CORRECT, oos, max_in_scope_drop=0.02) == 0.5105  # 21 rejected

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
