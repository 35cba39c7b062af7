"""Serving benchmark: batch-size-1 HTTP round trips, one gunicorn worker, on one model.

(a) the naive baseline: Flask + Keras `model.predict` per request (bench/naive_app.py)
(b) our service, Keras runtime (a compiled tf.function with a fixed input signature)
(c) our service, ONNX Runtime (the default)
plus the bare model compute per call, as the floor. All side by side in one run.
Texts are CLINC150 test utterances and the result cache is off, so every request runs the model.
Load comes from wrk (keep-alive, one connection per concurrent client). (b) and (c) run under the
service's default gunicorn worker class (gevent); (c) also under gthread, the other one supported.

    .venv/bin/python bench/serving.py [--seconds 8] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATASETS, drive, ensure_model, save, start_gunicorn, stop, wait_ready  # noqa: E402
from devstack.stack import free_port  # noqa: E402


def compute_floor(model_dir, texts) -> dict:
    """In-process cost of one model call at batch size 1 (tokenised input ready)."""
    from nlu.artifact import ONNX, load_model
    from training_jobs.keras_runtime import KERAS, load_keras_model

    onnx_model, keras_model = load_model(model_dir, ONNX), load_model(model_dir, KERAS)
    raw = load_keras_model(model_dir)
    ids = [np.asarray([onnx_model.tokenizer.encode(t)], np.int32) for t in texts[:300]]
    out = {}
    for name, fn, n in (("onnx", onnx_model.tiers["fast"], 300), ("keras_tf_function", keras_model.tiers["fast"], 300),
                        ("keras_predict", lambda x: raw.predict(x, verbose=0), 60)):
        for x in ids[:10]:
            fn(x)
        samples = []
        for x in ids[:n]:
            t0 = time.perf_counter()
            fn(x)
            samples.append(time.perf_counter() - t0)
        s = sorted(samples)
        out[name] = {"p50_ms": round(s[len(s) // 2] * 1000, 3), "mean_ms": round(float(np.mean(s)) * 1000, 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    model_dir = ensure_model(str(DATASETS / "clinc150" / "data_full.json"), "clinc150-class", "--oos-mode", "class",
                             "--recipe", "fast")
    texts = [t for t, _ in json.loads((DATASETS / "clinc150" / "data_full.json").read_text())["test"]]
    servers = {
        "a_naive_keras_predict": ("bench.naive_app:app", {"GUNICORN_WORKER_CLASS": "gthread"}),
        "b_keras_runtime": ("inference_container.wsgi:app", {"NLU_RUNTIME": "keras"}),
        "c_onnx_runtime": ("inference_container.wsgi:app", {"NLU_RUNTIME": "onnx"}),
        "c_onnx_runtime_gthread": ("inference_container.wsgi:app", {"NLU_RUNTIME": "onnx",
                                                                    "GUNICORN_WORKER_CLASS": "gthread"}),
    }
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "model": str(model_dir.name), "seconds_per_run": args.seconds, "rounds": args.rounds}
    rounds: dict[str, list[dict]] = {name: [] for name in servers}
    for r in range(args.rounds):  # interleaved, so that a noisy minute on a shared host hits all alike
        for name, (app, env) in servers.items():
            port = free_port()
            proc = start_gunicorn(app, {"NLU_MODEL_DIR": str(model_dir), "NLU_CACHE_SIZE": "0", **env}, port)
            try:
                wait_ready(port)
                drive(port, texts[:50], 1, 1.0)  # warm-up
                rounds[name].append({f"c{c}": drive(port, texts, c, args.seconds) for c in (1, 8)})
            finally:
                stop(proc)
            print(f"round {r + 1}", name, json.dumps(rounds[name][-1]), flush=True)
    for name, runs in rounds.items():  # per figure, the median over rounds
        results[name] = {c: {k: statistics.median(run[c][k] for run in runs) for k in runs[0][c]}
                         for c in ("c1", "c8")}
        results[name]["rounds"] = runs
    results["model_compute_floor"] = compute_floor(model_dir, texts)
    base = results["a_naive_keras_predict"]
    for name in ("b_keras_runtime", "c_onnx_runtime", "c_onnx_runtime_gthread"):
        results[name]["throughput_vs_naive"] = {
            c: round(results[name][c]["rps"] / base[c]["rps"], 1) for c in ("c1", "c8")}
    print(json.dumps(results, indent=1))
    save("serving", results)


if __name__ == "__main__":
    main()
