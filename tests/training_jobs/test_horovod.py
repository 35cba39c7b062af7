"""The same training command as a 2-process Horovod (Gloo) job on this machine."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from helpers import DEMO_DATA, run_cli


def test_two_rank_horovod_job_trains_shards_and_writes_one_artifact(tmp_path):
    horovodrun = shutil.which("horovodrun", path=str(Path(sys.executable).parent))
    assert horovodrun, "horovod is not installed in the project's environment (make install)"
    out = tmp_path / "hvd"
    proc = run_cli(
        "train", "--data", str(DEMO_DATA), "--out", str(out), "--epochs", "30", "--seed", "5",
        launcher=[horovodrun, "-np", "2", "-H", "localhost:2", "--gloo"],
        env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["ranks"] == 2
    assert meta["training"]["examples_per_rank"] == meta["training"]["train_examples"] // 2
    # each rank trained on half of the examples; rank 0 alone printed the summary and wrote files
    assert proc.stdout.count('"artifact"') == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["ranks"] == 2
    assert metrics["val"]["intent_accuracy"] > 0.8, metrics["val"]
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "metrics.json", "model.h5", "model.onnx", "model.onnx.data"]
