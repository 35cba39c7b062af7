"""Start-up benchmark: process start until /readyz answers 200 (gunicorn, ONNX runtime).

For the demo model, and for the same model scaled to about 500 MB of parameters (a larger
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

from bench.common import ROOT, VAR, ensure_model, save, start_gunicorn, stop, wait_ready  # noqa: E402
from devstack.stack import free_port  # noqa: E402

DEMO_DATA = ROOT / "training_jobs" / "data" / "demo.yml"


def big_model(template: Path, out: Path, rows: int = 490_000) -> Path:
    """The demo model with its embedding table grown to [rows, 256]: about 500 MB of float32.

    More rows change no other shape (ids only index the first 30,522), but the runtime has to
    read and place all of them, which is what start-up time depends on.
    """
    if (out / "model.onnx").exists():
        return out
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from training_jobs.export import write_onnx

    model = onnx.load(str(template / "model.onnx"))  # with its external weights
    [table] = [t for t in model.graph.initializer if t.name == "embeddings"]
    grown = np.random.default_rng(0).standard_normal((rows, table.dims[1]), dtype=np.float32) * 0.05
    grown[:table.dims[0]] = numpy_helper.to_array(table)
    table.CopyFrom(numpy_helper.from_array(grown, table.name))
    out.mkdir(parents=True, exist_ok=True)
    write_onnx(model, out / "model.onnx")
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
    demo = ensure_model(str(DEMO_DATA), "startup-demo", "--recipe", "fast")
    big = big_model(demo, VAR / "startup-500mb")
    interpreter = statistics.median(seconds([sys.executable, "-c", "pass"]) for _ in range(5))
    results = {"interpreter_start_s": round(interpreter, 3)}
    for name, folder in (("demo", demo), ("500mb", big)):
        files = [folder / "model.onnx", folder / "model.onnx.data"]
        size = sum(f.stat().st_size for f in files)
        read = statistics.median(
            seconds([sys.executable, "-c", f"[open(f, 'rb').read() for f in {[str(f) for f in files]!r}]"])
            - interpreter
            for _ in range(3))
        ready = statistics.median(ready_time(folder) for _ in range(3))
        results[name] = {"onnx_mb": round(size / 2**20, 1), "read_file_s": round(read, 3),
                         "ready_s": round(ready, 3),
                         "ready_over_read_plus_interpreter": round(ready / (read + interpreter), 2)}
        print(name, json.dumps(results[name]), flush=True)
    save("startup", results)


if __name__ == "__main__":
    main()
