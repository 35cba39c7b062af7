"""The same training command as a 2-process Horovod (Gloo) job on this machine: both tiers of a
cascade (a two-layer transformer) trained data-parallel, one artifact written."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from helpers import DEMO_DATA, run_cli
from nlu.artifact import artifact_files, load_model


@pytest.mark.horovod
def test_two_rank_horovod_job_trains_both_tiers_on_shards_and_writes_one_artifact(tmp_path):
    horovodrun = shutil.which("horovodrun", path=str(Path(sys.executable).parent))
    assert horovodrun, "horovod is not installed in the project's environment (make install)"
    out = tmp_path / "hvd"
    proc = run_cli(
        "train", "--data", str(DEMO_DATA), "--out", str(out), "--seed", "5", "--recipe", "cascade",
        "--transformer-layers", "2", "--epochs", "10",
        launcher=[horovodrun, "-np", "2", "-H", "localhost:2", "--gloo"],
        env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["ranks"] == 2
    assert meta["training"]["examples_per_rank"] == meta["training"]["train_examples"] // 2
    # the transformer's batch of 16 is shared by the two ranks: one recipe, whatever the number of processes
    assert meta["training"]["transformer"]["batch_size"] == 16
    assert meta["training"]["transformer"]["steps_per_epoch"] == -(-meta["training"]["examples_per_rank"] // 8)
    # each rank trained on half of the examples; rank 0 alone printed the summary and wrote files
    assert proc.stdout.count('"artifact"') == 1
    assert '"tier": "transformer"' in proc.stdout and '"tier": "fast"' in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["ranks"] == 2
    assert metrics["val"]["intent_accuracy"] > 0.6, metrics["val"]
    assert sorted(p.name for p in out.iterdir()) == sorted(artifact_files(meta))
    [result] = load_model(out).parse(["where is my order B-5521"])
    assert result["intent"]["name"] == "order_status"
