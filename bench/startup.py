"""Start-up benchmark: process start until /readyz answers 200 (gunicorn, ONNX runtime).

For the demo model, and for the same architecture scaled to about 500 MB of parameters (a wider
embedding table), set against the time to read the model file and to start the interpreter.
The model files are in the page cache for every figure (each was just written or read).

    .venv/bin/python bench/startup.py
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, VAR, free_port, save, start_gunicorn, stop, wait_ready  # noqa: E402

DEMO_DATA = ROOT / "training_jobs" / "data" / "demo.yml"


def big_model(template: Path, out: Path, dim: int = 4096) -> Path:
    """The demo architecture with a [30522, dim] embedding table: about 500 MB of float32."""
    if (out / "model.onnx").exists():
        return out
    import numpy as np

    from training_jobs.model import ModelConfig, build
    from training_jobs.train import export_onnx

    meta = json.loads((template / "metadata.json").read_text())
    emb = (np.random.default_rng(0).standard_normal((len(meta["vocab"]), dim)) * 0.05).astype(np.float32)
    model = build(ModelConfig(), emb, len(meta["intents"]), len(meta["tags"]))
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "model.onnx")
    shutil.copy(template / "metadata.json", out / "metadata.json")
    shutil.copy(template / "metrics.json", out / "metrics.json")
    return out


def seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def ready_time(model_dir: Path) -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = start_gunicorn("inference_container.wsgi:app", {"NLU_MODEL_DIR": str(model_dir)}, port)
    try:
        wait_ready(port)
        return time.perf_counter() - t0
    finally:
        stop(proc)


def main() -> None:
    demo = VAR / "startup-demo"
    if not (demo / "metadata.json").exists():
        subprocess.run([sys.executable, "-m", "training_jobs", "train", "--data", str(DEMO_DATA), "--out", str(demo)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    big = big_model(demo, VAR / "startup-500mb")
    interpreter = statistics.median(seconds([sys.executable, "-c", "pass"]) for _ in range(5))
    results = {"interpreter_start_s": round(interpreter, 3)}
    for name, folder in (("demo", demo), ("500mb", big)):
        size = (folder / "model.onnx").stat().st_size
        read = statistics.median(
            seconds([sys.executable, "-c", f"open({str(folder / 'model.onnx')!r}, 'rb').read()"]) - interpreter
            for _ in range(3))
        ready = statistics.median(ready_time(folder) for _ in range(3))
        results[name] = {"onnx_mb": round(size / 2**20, 1), "read_file_s": round(read, 3),
                         "ready_s": round(ready, 3),
                         "ready_over_read_plus_interpreter": round(ready / (read + interpreter), 2)}
        print(name, json.dumps(results[name]), flush=True)
    save("startup", results)


if __name__ == "__main__":
    main()
