"""Loading the function app, as the host and each of its worker processes do: its settings first
(the environment, then `local.settings.json` Values, as Core Tools reads them), then
`function_app.py` with the app's folder on `sys.path`."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path


def local_settings(app_dir: Path) -> tuple[dict[str, str], str]:
    """The app folder's `local.settings.json` (where Core Tools reads it): its Values and its
    Host.CORS; nothing when there is none. `make run` makes it from local.settings.sample.json."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}, ""
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path}: not JSON: {e}") from None
    values = {key: str(value) for key, value in (data.get("Values") or {}).items()}
    return values, str((data.get("Host") or {}).get("CORS", ""))


def load_settings(app_dir: Path) -> None:
    """local.settings.json's Values, under whatever the environment already sets."""
    for key, value in local_settings(app_dir)[0].items():
        os.environ.setdefault(key, value)


def load_app(app_dir: Path):
    sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", app_dir / "function_app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {app_dir / 'function_app.py'} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if type(v).__name__ == "FunctionApp"]
    if len(apps) != 1:
        raise RuntimeError(f"function_app.py must define exactly one FunctionApp, found {len(apps)}")
    return apps[0]
