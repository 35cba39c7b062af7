"""Quality benchmark: CLINC150 full under both out-of-scope protocols, SNIPS, CLINC150 with 10 training
examples per intent, and the demo catalogue, on their test splits, for the fast and cascade recipes.

Each model is trained with the project's own CLI (defaults, seed 13; every setting was chosen on
validation splits with bench/tune.py) and evaluated once through the serving code path. A cascade
artifact holds both tiers, so it is also scored with the transformer answering every text (its
figures as "transformer"). For the CLINC150 threshold protocol the out-of-scope trade-off curve on
the test split (in-scope accuracy against out-of-scope recall as the threshold rises, and AUROC) is
recorded for the detector in use and for the confidence; the table puts the figures beside the
published ones in bench/data/README.md.

    .venv/bin/python bench/quality.py [--only clinc150_oos_threshold,snips] [--recipes fast,cascade] [--reuse]

--reuse scores an artifact already trained by an earlier run (var/bench/quality-RUN-RECIPE, its
training figures taken from bench/results/quality.json) instead of training it again.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATASETS, ROOT, VAR, few_shot, recorded, save  # noqa: E402

CLINC = DATASETS / "clinc150" / "data_full.json"
RUNS = {
    "clinc150_oos_class": (CLINC, ["--oos-mode", "class"]),
    "clinc150_oos_threshold": (CLINC, ["--oos-mode", "threshold"]),
    "snips": (DATASETS / "snips", ["--oos-mode", "none"]),  # SNIPS has no out-of-scope protocol
    "clinc150_10shot": ("10shot", ["--oos-mode", "threshold"]),
    "demo": (ROOT / "training_jobs" / "data" / "demo.yml", []),
}
PUBLISHED = {
    "clinc150_oos_class": {"MLP (USE)": (93.5, 47.4), "BERT": (96.9, 40.3), "Rasa NLU": (91.5, 45.3)},
    "clinc150_oos_threshold": {"MLP (USE)": (93.4, 49.1), "BERT": (96.2, 52.3), "Rasa NLU": (90.9, 31.2)},
    "snips": {"Slot-Gated": (97.0, 88.8), "Capsule-NLU": (97.3, 91.8), "Joint BERT": (98.6, 97.0)},
    "clinc150_10shot": {"USE+ConveRT": (93.3, None), "CPFT": (94.2, None)},
    "demo": {},
}


def ten_shot_data() -> Path:
    """CLINC150 with 10 training examples per in-scope intent (seed 13) and the full val and test."""
    out = VAR / "clinc150-10shot.json"
    if not out.exists():
        raw = json.loads(CLINC.read_text())
        from nlu.dataset import Example

        kept = few_shot([Example(t, i) for t, i in raw["train"]], 10)
        raw["train"] = [[e.text, e.intent] for e in kept]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(raw))
    return out


def figures(metrics: dict) -> dict:
    keys = ("in_scope_accuracy", "oos_recall", "intent_accuracy", "intent_macro_f1", "entity_f1")
    return {k: metrics.get(k) for k in keys}


def score(out: Path, recipe: str) -> dict:
    """Test figures of the artifact, per way of serving it, and the test split's out-of-scope curves."""
    import numpy as np

    from nlu import dataset as data_mod
    from nlu.artifact import TRANSFORMER, load_model
    from training_jobs.calibrate import oos_curve
    from training_jobs.evaluate import evaluate
    from training_jobs.train import TrainConfig, prepare_splits

    meta, metrics = (json.loads((out / f).read_text()) for f in ("metadata.json", "metrics.json"))
    result = {recipe: figures(metrics["test"])}
    if recipe != "cascade":
        return result
    model = load_model(out)
    splits, _ = prepare_splits(data_mod.load(meta["data_source"]), TrainConfig(seed=13, oos_mode=meta["oos_mode"]))
    test = splits["test"]
    parsed = model.parse([e.text for e in test], TRANSFORMER)
    result[TRANSFORMER] = figures(evaluate(model, test, parsed))
    result["share_escalated"] = metrics["serving"].get("share_escalated")
    if meta["oos_mode"] == "threshold" and any(e.intent == "oos" for e in test):
        raw = model.infer([model.tokenize(e.text) for e in test], TRANSFORMER)
        correct = [model.intents[int(np.argmax(r.intent))] == e.intent for r, e in zip(raw, test)]
        is_oos = [e.intent == "oos" for e in test]
        result["test_curves"] = {"confidence": oos_curve([float(r.intent.max()) for r in raw], correct, is_oos)}
        if model.detector is not None:
            result["test_curves"]["mahalanobis"] = oos_curve([r.in_scope for r in raw], correct, is_oos)
        result["detector"] = meta.get("detector")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated runs (default: all)")
    ap.add_argument("--recipes", default="fast,cascade")
    ap.add_argument("--reuse", action="store_true", help="score artifacts an earlier run trained")
    args = ap.parse_args()
    results = recorded("quality") if args.only or args.reuse else {}
    for name, (data, extra) in RUNS.items():
        if args.only and name not in args.only.split(","):
            continue
        data = ten_shot_data() if data == "10shot" else data
        for recipe in args.recipes.split(","):
            out = VAR / f"quality-{name}-{recipe}"
            entry = results.setdefault(name, {})
            if args.reuse and (out / "metrics.json").exists() and f"{recipe}_training" in entry:
                entry.update(score(out, recipe))
                print(name, recipe, "rescored", flush=True)
                continue
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "training_jobs", "train", "--data", str(data), "--out", str(out),
                            "--seed", "13", "--recipe", recipe, *extra], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            wall = time.perf_counter() - started
            metrics = json.loads((out / "metrics.json").read_text())
            entry.update(score(out, recipe))
            entry[f"{recipe}_training"] = {"train_command_seconds": round(wall, 1), **metrics["training"]}
            print(name, recipe, json.dumps({k: v for k, v in entry.items() if k != "test_curves"}), flush=True)
    table(results)
    save("quality", results)


def table(results: dict) -> None:
    print("\n| run | recipe | ours | published |\n|---|---|---|---|")
    for name, entry in results.items():
        for recipe in ("fast", "transformer", "cascade"):
            r = entry.get(recipe)
            if not r:
                continue
            if name == "snips" or name == "demo":
                ours = f"intent acc {100 * r['intent_accuracy']:.1f} / entity F1 {100 * r['entity_f1']:.1f}"
            else:
                ours = f"in-scope {100 * r['in_scope_accuracy']:.1f} / oos recall {100 * (r['oos_recall'] or 0):.1f}"
            pub = "; ".join(f"{k} {a} / {b}" for k, (a, b) in PUBLISHED.get(name, {}).items())
            print(f"| {name} | {recipe} | {ours} | {pub} |")


if __name__ == "__main__":
    main()
