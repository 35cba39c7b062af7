"""Model selection on CLINC150's validation split only: the test split is dropped before training.

Each variant overrides TrainConfig / ModelConfig fields and is trained under the oos-threshold
protocol; the line printed per variant has the validation figures the choice is made on.

    .venv/bin/python bench/tune.py '{}' '{"embedding_dim": 384}' '{"model": {"dropout": 0.4}}'
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.common import DATASETS  # noqa: E402
from nlu import dataset as data  # noqa: E402
from training_jobs.model import ModelConfig  # noqa: E402
from training_jobs.train import TrainConfig, train  # noqa: E402


def config(overrides: dict) -> TrainConfig:
    model = dataclasses.replace(ModelConfig(), **{k: tuple(v) if isinstance(v, list) else v
                                                  for k, v in overrides.pop("model", {}).items()})
    return dataclasses.replace(TrainConfig(seed=13, oos_mode="threshold", model=model), **overrides)


def main(variants: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    dataset = data.load(DATASETS / "clinc150" / "data_full.json")
    dataset.splits.pop("test")
    for raw in variants or ["{}"]:
        with tempfile.TemporaryDirectory() as tmp:
            metrics = train(dataset, Path(tmp) / "model", config(json.loads(raw)))
        val = metrics["val"]
        print(json.dumps({"variant": json.loads(raw), "val_in_scope": val["in_scope_accuracy"],
                          "val_oos_recall": val["oos_recall"], "seconds": metrics["training"]["seconds"]}),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
