"""The longer contract-fuzzing run: the same Schemathesis tests as `make test`
(tests/contracts/test_fuzz.py: every operation of the NLU service, the function app and the admin
site, against the running services), with more examples per operation and fresh random draws.

    .venv/bin/python bench/fuzz.py [--examples 500]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench.common import save  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=500, help="generated examples per operation")
    args = parser.parse_args()
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/contracts/test_fuzz.py"],
                         cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_RANDOM": "1"})
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error)", summary)}
    result = {"command": f".venv/bin/python bench/fuzz.py --examples {args.examples}",
              "examples_per_operation": args.examples, "seconds": round(time.perf_counter() - started, 1),
              "tests": counts, "exit_code": run.returncode, "summary": summary}
    if run.returncode:
        result["failures"] = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "E "))][:40]
    print(result, flush=True)
    save("fuzz", result)
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
