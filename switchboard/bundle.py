"""Puts a copy of this package into the function app's folder, where the Functions host imports it
(`function_app/switchboard/`): the function app is deployed as its folder alone. The azd `prepackage`
hook runs it before every deployment, `make run`'s local host before it starts, the Dockerfile at
build; the copy is not in git.

    python -m switchboard.bundle [FUNCTION_APP_FOLDER]      (default: function_app)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FILES = ("*.py", "*.json")


def bundle(app_dir: Path) -> Path:
    """Make `app_dir/switchboard` this package's files (its modules and the branch manifest). A file
    is replaced whole (written beside, then renamed) and only when it differs, so a host loading the
    app meanwhile reads the old file or the new one, never half of one."""
    if not (app_dir / "function_app.py").is_file():
        raise SystemExit(f"{app_dir}: not a function app folder (no function_app.py)")
    target = app_dir / "switchboard"
    target.mkdir(exist_ok=True)
    sources = {source.name: source for pattern in FILES for source in PACKAGE.glob(pattern)}
    for name, source in sources.items():
        data, copy = source.read_bytes(), target / name
        if not copy.is_file() or copy.read_bytes() != data:
            partial = target / f".{name}.{os.getpid()}"
            partial.write_bytes(data)
            os.replace(partial, copy)
    for stale in (p for pattern in FILES for p in target.glob(pattern) if p.name not in sources):
        stale.unlink()
    return target


if __name__ == "__main__":
    print(f"copied the shared package to {bundle(Path(sys.argv[1] if len(sys.argv) > 1 else 'function_app'))}")
