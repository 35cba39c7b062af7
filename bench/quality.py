"""Quality benchmark: CLINC150 full under both out-of-scope protocols, and SNIPS, on their test splits.

Each model is trained with the project's own CLI (defaults, seed 13) and evaluated through the
serving code path; the table puts the figures beside the published ones in bench/data/README.md.

    .venv/bin/python bench/quality.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATASETS, ROOT, VAR, save  # noqa: E402

RUNS = {
    "clinc150_oos_class": (DATASETS / "clinc150" / "data_full.json", ["--oos-mode", "class"]),
    "clinc150_oos_threshold": (DATASETS / "clinc150" / "data_full.json", ["--oos-mode", "threshold"]),
    "snips": (DATASETS / "snips", ["--oos-mode", "none"]),  # SNIPS has no out-of-scope protocol
}
PUBLISHED = {
    "clinc150_oos_class": {"MLP (USE)": (93.5, 47.4), "BERT": (96.9, 40.3), "Rasa NLU": (91.5, 45.3)},
    "clinc150_oos_threshold": {"MLP (USE)": (93.4, 49.1), "BERT": (96.2, 52.3), "Rasa NLU": (90.9, 31.2)},
    "snips": {"Slot-Gated": (97.0, 88.8), "Capsule-NLU": (97.3, 91.8), "Joint BERT": (98.6, 97.0)},
}


def main() -> None:
    results = {}
    for name, (data, extra) in RUNS.items():
        out = VAR / f"quality-{name}"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "training_jobs", "train", "--data", str(data), "--out", str(out),
                        "--seed", "13", *extra], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        wall = time.perf_counter() - started
        metrics = json.loads((out / "metrics.json").read_text())
        test = metrics["test"]
        results[name] = {
            "in_scope_accuracy": test["in_scope_accuracy"], "oos_recall": test["oos_recall"],
            "intent_accuracy": test["intent_accuracy"], "intent_macro_f1": test["intent_macro_f1"],
            "entity_f1": test["entity_f1"], "fit_seconds": metrics["training"]["seconds"],
            "train_command_seconds": round(wall, 1),
        }
        print(name, json.dumps(results[name]), flush=True)
    print()
    print("| run | ours | published |")
    print("|---|---|---|")
    for name, r in results.items():
        if name == "snips":
            ours = f"intent acc {100 * r['intent_accuracy']:.1f} / slot F1 {100 * r['entity_f1']:.1f}"
        else:
            ours = f"in-scope {100 * r['in_scope_accuracy']:.1f} / oos recall {100 * r['oos_recall']:.1f}"
        pub = "; ".join(f"{k} {a} / {b}" for k, (a, b) in PUBLISHED[name].items())
        print(f"| {name} | {ours} (train {r['train_command_seconds']:.0f} s) | {pub} |")
    save("quality", results)


if __name__ == "__main__":
    main()
