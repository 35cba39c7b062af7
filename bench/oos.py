"""Out-of-scope threshold with few or no out-of-scope examples: the old rule and the new one, side by side.

One model per data set, trained once with the project's own CLI (defaults, seed 13, `--oos-mode none`:
the same fit as `threshold`, whose training data drops the oos examples too, but shipped without a
threshold). Its top intent and confidence on the validation and test splits are then scored under
each rule, so the rules differ only in the threshold they pick:

- CLINC150, oos-threshold: validation keeps its 100 out-of-scope examples (the README's protocol).
- CLINC150, few oos: validation keeps k of them (k = 1 ... 19, a random draw), the test split is
  the full one: what a model trained in threshold mode with a few out-of-scope examples gets.
- CLINC150, no oos: validation without out-of-scope examples (a bot with none); the test split still
  has its 1,000, so the out-of-scope recall such a bot gets can be read off.
- SNIPS: no out-of-scope examples anywhere.
- Small validation splits (a catalogue's: 10 % of its examples), no oos: n random in-scope
  validation examples of CLINC150 and SNIPS, DRAWS draws each, scored on the full test split.

    .venv/bin/python bench/oos.py            # trains both models (CLINC150 ~215 s, SNIPS ~190 s)
    .venv/bin/python bench/oos.py --reuse    # scores the confidences of the last training again
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATASETS, ROOT, VAR, save  # noqa: E402
from training_jobs.metrics import MIN_OOS_EXAMPLES, NO_OOS_MAX_DROP, choose_threshold  # noqa: E402

OOS = "oos"
DATA = {"clinc150": DATASETS / "clinc150" / "data_full.json", "snips": DATASETS / "snips"}
FEW = (1, 5, 10, 19)
SMALL = (30, 100, 300)
DRAWS = 200


def old_rule(in_scope_conf: Sequence[float], in_scope_correct: Sequence[bool], oos_conf: Sequence[float]) -> float:
    """choose_threshold before this change: the highest threshold losing at most 1 point, oos or not."""
    return choose_threshold(in_scope_conf, in_scope_correct, oos_conf, min_oos_examples=0)


RULES = {"no threshold": lambda *_: 0.0, "old": old_rule, "new": choose_threshold}


def confidences(name: str, reuse: bool) -> dict:
    """{split: [[gold, top intent, confidence], ...]} from the model trained (once) on `name`."""
    out = VAR / f"oos-{name}"
    cache = out / "confidences.json"
    if reuse and cache.exists():
        return json.loads(cache.read_text())
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "training_jobs", "train", "--data", str(DATA[name]), "--out", str(out),
                    "--seed", "13", "--oos-mode", "none", "--recipe", "fast"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = round(time.perf_counter() - started, 1)
    from nlu import dataset as data
    from nlu.artifact import load_model
    from training_jobs.evaluate import predict

    model = load_model(out)
    assert model.threshold == 0.0
    splits = data.load(DATA[name]).splits
    result = {"train_command_seconds": wall}
    for split in ("val", "test"):
        parsed = predict(model, splits[split])
        result[split] = [[e.intent, p["intent_ranking"][0]["name"], p["intent_ranking"][0]["confidence"]]
                         for e, p in zip(splits[split], parsed)]
    cache.write_text(json.dumps(result))
    return result


def threshold_inputs(rows: list) -> tuple[list[float], list[bool], list[float]]:
    """What training hands choose_threshold (calibrate.threshold_for), from [gold, top, confidence] rows."""
    conf_in = [c for g, _, c in rows if g != OOS]
    correct = [p == g for g, p, _ in rows if g != OOS]
    conf_oos = [c for g, _, c in rows if g == OOS]
    return conf_in, correct, conf_oos


def score(rows: list, threshold: float) -> dict:
    """Test in-scope accuracy and oos recall when guesses under `threshold` are rejected (as Model.result)."""
    in_scope = [(g, p, c) for g, p, c in rows if g != OOS]
    oos = [c for g, _, c in rows if g == OOS]
    return {"in_scope_accuracy": sum(p == g and c >= threshold for g, p, c in in_scope) / len(in_scope),
            "oos_recall": sum(c < threshold for c in oos) / len(oos) if oos else None,
            "in_scope_rejected": sum(c < threshold for _, _, c in in_scope) / len(in_scope)}


def evaluate(val: list, test: list) -> dict:
    base = score(test, 0.0)["in_scope_accuracy"]
    out = {}
    for rule, fn in RULES.items():
        t = fn(*threshold_inputs(val))
        s = score(test, t)
        val_s = score(val, t)
        out[rule] = {"threshold": t, **{k: round(v, 4) if v is not None else None for k, v in s.items()},
                     "in_scope_points_lost": round(100 * (base - s["in_scope_accuracy"]), 2),
                     "val_in_scope_points_lost": round(100 * (score(val, 0.0)["in_scope_accuracy"]
                                                              - val_s["in_scope_accuracy"]), 2)}
    return out


def draws(val: list, test: list, pick) -> dict:
    """Mean (and worst in-scope loss) over DRAWS validation splits `pick(rng)` makes from `val`."""
    rng = random.Random(len(val))
    runs = [evaluate(pick(rng), test) for _ in range(DRAWS)]
    out = {}
    for rule in RULES:
        rs = [r[rule] for r in runs]
        out[rule] = {key: round(mean(r[key] for r in rs), 4) for key in rs[0] if rs[0][key] is not None}
        out[rule]["threshold_range"] = [min(r["threshold"] for r in rs), max(r["threshold"] for r in rs)]
        out[rule]["worst_in_scope_points_lost"] = max(r["in_scope_points_lost"] for r in rs)
    return out


def main() -> None:
    reuse = "--reuse" in sys.argv[1:]
    clinc, snips = confidences("clinc150", reuse), confidences("snips", reuse)
    clinc_in = [r for r in clinc["val"] if r[0] != OOS]
    clinc_oos = [r for r in clinc["val"] if r[0] == OOS]
    runs = {"clinc150, 100 oos (oos-threshold)": evaluate(clinc["val"], clinc["test"])}
    for k in FEW:  # neither rule looks at where the oos examples lie, only at how many there are
        runs[f"clinc150, {k} oos"] = evaluate(clinc_in + random.Random(k).sample(clinc_oos, k), clinc["test"])
    runs["clinc150, no oos"] = evaluate(clinc_in, clinc["test"])
    runs["snips (no oos)"] = evaluate(snips["val"], snips["test"])
    for name, val, test in (("clinc150", clinc_in, clinc["test"]), ("snips", snips["val"], snips["test"])):
        for n in SMALL:
            runs[f"{name}, no oos, {n} validation"] = draws(val, test, lambda rng, n=n, val=val: rng.sample(val, n))
    results = {
        "command": ".venv/bin/python bench/oos.py",
        "rule": {"min_oos_examples": MIN_OOS_EXAMPLES, "no_oos_max_drop": NO_OOS_MAX_DROP,
                 "max_in_scope_drop": 0.01},
        "draws": DRAWS,
        "train_command_seconds": {"clinc150": clinc["train_command_seconds"], "snips": snips["train_command_seconds"]},
        "test_in_scope_accuracy_without_threshold": {
            "clinc150": round(score(clinc["test"], 0.0)["in_scope_accuracy"], 4),
            "snips": round(score(snips["test"], 0.0)["in_scope_accuracy"], 4)},
        "runs": runs,
    }
    print(f"| validation split | rule | threshold | test in-scope | test oos recall | in-scope points lost "
          f"(mean of {DRAWS} draws, worst) |")
    print("|---|---|---|---|---|---|")
    for run, rules in runs.items():
        for rule, r in rules.items():
            if rule == "no threshold" and run != "clinc150, 100 oos (oos-threshold)" and run != "snips (no oos)":
                continue  # the same line each time: one per test split
            lo, hi = r.get("threshold_range", [r["threshold"]] * 2)
            t = f"{lo:.4f}" if lo == hi else f"{lo:.4f}-{hi:.4f}"
            recall = f"{100 * r['oos_recall']:.1f}" if r.get("oos_recall") is not None else "-"
            lost = f"{r['in_scope_points_lost']:.2f}"
            if "worst_in_scope_points_lost" in r:
                lost += f" (worst {r['worst_in_scope_points_lost']:.2f})"
            print(f"| {run} | {rule} | {t} | {100 * r['in_scope_accuracy']:.1f} | {recall} | {lost} |")
    save("oos", results)


if __name__ == "__main__":
    main()
