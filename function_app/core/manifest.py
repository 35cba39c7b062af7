"""Writes `switchboard/branches.json`, the branches as the admin site knows them, from this code:
every branch module's REPLIES and `core.routing.ROUTES`.

    cd function_app && python -m core.manifest [PATH]     (`make manifest` does this)
"""
from __future__ import annotations

import sys
from pathlib import Path

import branches
from core.routing import ROUTES
from switchboard.branches import MANIFEST, Branches


def build() -> Branches:
    return Branches(branches.all_templates(), dict(ROUTES))


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else MANIFEST
    text = build().to_json()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        path.touch()  # up to date (for make)
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
