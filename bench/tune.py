"""Model selection on a validation split only: the test split is dropped before training.

Each variant overrides TrainConfig fields, and those of its nested ModelConfig (`model`, the fast
tier) and FinetuneConfig (`transformer`); it is trained under the oos-threshold protocol (CLINC150)
or without one (SNIPS); the line printed per variant has the validation figures the choice is made on.

    .venv/bin/python bench/tune.py '{}' '{"embedding_dim": 384}' '{"model": {"dropout": 0.4}}'
    .venv/bin/python bench/tune.py --data snips '{"recipe": "transformer", "transformer": {"epochs": 3}}'
    .venv/bin/python bench/tune.py --shots 10 '{"recipe": "transformer"}'   # 10 training examples per intent
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.common import DATASETS, VAR, few_shot  # noqa: E402
from nlu import dataset as data  # noqa: E402
from training_jobs.finetune import FinetuneConfig  # noqa: E402
from training_jobs.model import ModelConfig  # noqa: E402
from training_jobs.train import TrainConfig, train  # noqa: E402


def _nested(cls, overrides: dict):
    return dataclasses.replace(cls(), **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})


def config(overrides: dict, oos_mode: str) -> TrainConfig:
    model = _nested(ModelConfig, overrides.pop("model", {}))
    transformer = _nested(FinetuneConfig, overrides.pop("transformer", {}))
    return dataclasses.replace(TrainConfig(seed=13, oos_mode=oos_mode, model=model, transformer=transformer),
                               **overrides)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", choices=("clinc150", "snips"), default="clinc150")
    parser.add_argument("--shots", type=int, help="train on this many examples per intent (seeded)")
    parser.add_argument("variants", nargs="*", default=["{}"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.data == "snips":
        dataset, oos_mode = data.load(DATASETS / "snips"), "none"
    else:
        dataset, oos_mode = data.load(DATASETS / "clinc150" / "data_full.json"), "threshold"
    dataset.splits.pop("test")
    if args.shots:
        dataset.splits["train"] = few_shot(dataset.splits["train"], args.shots)
    for n, raw in enumerate(args.variants):
        out = VAR / f"tune-{args.data}{f'-{args.shots}shot' if args.shots else ''}-{n}"  # kept for a closer look
        metrics = train(dataset, out, config(json.loads(raw), oos_mode))
        val = metrics["val"]
        print(json.dumps({"variant": json.loads(raw), "data": args.data, "shots": args.shots,
                          "val_in_scope": val["in_scope_accuracy"], "val_oos_recall": val["oos_recall"],
                          "val_intent_accuracy": val["intent_accuracy"], "val_entity_f1": val["entity_f1"],
                          "seconds": metrics["training"]["seconds"],
                          "tier_seconds": metrics["training"]["tier_seconds"],
                          "calibration": {k: v for k, v in metrics["calibration"].items() if k != "curves"},
                          "auroc": {k: c["auroc"] for k, c in metrics["calibration"].get("curves", {}).items()},
                          "serving": metrics["serving"]}),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
