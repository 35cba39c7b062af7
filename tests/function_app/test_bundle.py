"""The function app deploys as its folder alone: with the shared package bundled into it (what the azd
`prepackage` hook, the Dockerfile and the local host do), it imports without the repository."""
import json
import os
import shutil
import subprocess
import sys

from helpers import ROOT
from switchboard.bundle import bundle

IMPORTS = "import switchboard, function_app_check; print(switchboard.__file__)"


def test_the_bundled_function_app_imports_on_its_own(tmp_path):
    app = tmp_path / "wwwroot"
    shutil.copytree(ROOT / "function_app", app, ignore=shutil.ignore_patterns(
        "__pycache__", "switchboard", "local.settings.json"))
    (app / "function_app_check.py").write_text(
        "import branches, core.manifest, core.steps, core.wiring\n"
        "from switchboard import branches as manifest\nassert manifest.load() == core.manifest.build()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def imports() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", IMPORTS], cwd=app, env=env, capture_output=True, text=True)

    alone = imports()
    assert alone.returncode != 0 and "No module named 'switchboard'" in alone.stderr  # the folder lacks it
    bundle(app)
    bundled = imports()
    assert bundled.returncode == 0, bundled.stderr[-2000:]
    assert bundled.stdout.strip().startswith(str(app / "switchboard"))


def test_bundling_into_a_folder_that_is_not_a_function_app_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "switchboard.bundle", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode != 0 and "not a function app folder" in done.stderr


def test_the_local_host_runs_the_app_on_the_copy_it_bundled(tmp_path):
    """`make run`'s Functions host bundles first, then imports the app's own copy even with the
    repository on its path (as the stack starts it)."""
    app = tmp_path / "function_app"
    shutil.copytree(ROOT / "function_app", app, ignore=shutil.ignore_patterns(
        "__pycache__", "switchboard", "local.settings.json"))
    script = ("import sys; from pathlib import Path\n"
              "from devstack.functions_host import bundle_shared_package\n"
              "from devstack.app_loader import load_app\n"
              f"bundle_shared_package(Path({str(app)!r})); load_app(Path({str(app)!r}))\n"
              "print(sys.modules['switchboard'].__file__, sys.modules['switchboard.envelope'].__file__)")
    settings = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    env = {**os.environ, **settings, "PYTHONPATH": f"{ROOT}:{ROOT / 'function_app'}"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(path.startswith(str(app / "switchboard")) for path in done.stdout.split()), done.stdout
