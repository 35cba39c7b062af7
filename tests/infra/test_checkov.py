"""checkov (pinned in .venv-checkov, which `make test` installs) over infra/: no failed check, no file it cannot
parse, and every inline `// checkov:skip=ID: reason` gives a reason of several words and is used
(checkov reports that check skipped for the resource the comment is in); an unused skip fails.
Runs offline (BC_SKIP_MAPPING, --skip-download); about 20 s, hence the `stack` tier."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIP = re.compile(r"//\s*checkov:skip=([A-Za-z0-9_]+)(?::(.*))?$")
MIN_REASON_WORDS = 3  # "not .NET (Python 3.11)" is the shortest today


@pytest.fixture(scope="module")
def report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed ({CHECKOV.relative_to(ROOT)}): "
                    "run make .venv-checkov/.installed (make test does)")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run([str(CHECKOV), "-d", "infra", "--framework", "bicep", "-o", "json", "--skip-download"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"checkov gave no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}")
    reports = out if isinstance(out, list) else [out]
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    assert len(bicep) == 1, f"expected one bicep report, got {[r.get('check_type') for r in reports]}"
    return bicep[0]


def inline_skips() -> list[tuple[str, int, str, str]]:
    """(file relative to infra/, line, check id, reason) of every inline skip comment."""
    found = []
    for path in sorted((ROOT / "infra").rglob("*.bicep")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = SKIP.search(line)
            if m:
                name = path.relative_to(ROOT / "infra").as_posix()
                found.append((name, lineno, m.group(1), (m.group(2) or "").strip()))
    return found


def test_no_failed_check_and_no_parsing_error(report):
    results = report["results"]
    failed = [f"{c['check_id']} {c['file_path']} {c['file_line_range']} ({c['check_name']})"
              for c in results["failed_checks"]]
    assert failed == [], "checkov failed:\n" + "\n".join(failed)
    assert results.get("parsing_errors", []) == [] and report["summary"]["parsing_errors"] == 0, (
        f"checkov could not parse {results.get('parsing_errors')} (pycep: comment placement? report it)")
    assert report["summary"]["passed"] > 0 and report["summary"]["resource_count"] > 0


def test_every_skip_gives_a_reason():
    skips = inline_skips()
    assert skips, "no inline checkov skip found (the pattern or the templates changed)"
    short = [f"{f}:{line} {check}: {reason!r}" for f, line, check, reason in skips
             if len(re.findall(r"[A-Za-z]+", reason)) < MIN_REASON_WORDS]
    assert short == [], f"skips without a reason of {MIN_REASON_WORDS}+ words:\n" + "\n".join(short)


def test_every_skip_is_used(report):
    skipped = report["results"]["skipped_checks"]

    def used(file: str, line: int, check: str) -> bool:
        return any(c["check_id"] == check and c["file_path"].lstrip("/") == file
                   and c["file_line_range"][0] <= line <= c["file_line_range"][1] for c in skipped)

    unused = [f"{f}:{line} {check}" for f, line, check, _ in inline_skips() if not used(f, line, check)]
    assert unused == [], "inline skips checkov did not apply (not failing there, or misplaced):\n" + "\n".join(unused)
