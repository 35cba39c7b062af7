"""Pure means pure: the turn logic and the shared contract import no SDK, no HTTP client and no web
framework."""
import pkgutil

import pytest

from helpers import ROOT, run_without

PURE = ["core.steps", "core.routing", "core.conversation", "core.ports", "core.deps", "core.queues", "core.stores",
        "core.memory", "core.ratelimit", "core.webchat", "core.catalogue",
        # the shared package: its contract modules are pure; its adapters import their SDK when called
        "switchboard.envelope", "switchboard.turns", "switchboard.templates", "switchboard.branches",
        "switchboard.settings", "switchboard.errors", "switchboard.retry", "switchboard.cosmos",
        "switchboard.connections"]
BRANCHES = [f"branches.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "function_app" / "branches")])]


def test_the_turn_logic_and_every_branch_import_without_azure_httpx_or_flask():
    assert len(BRANCHES) >= 7
    run_without(("azure", "httpx", "flask"), f"""
import importlib
for name in {PURE + BRANCHES!r}:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.partition(".")[0] in ("azure", "httpx", "flask", "requests"))
assert not leaked, leaked
""")


def test_the_blocker_bites():
    """The check above would pass vacuously if blocking did nothing: the wiring must fail under it."""
    with pytest.raises(AssertionError, match="is made unimportable by this test"):
        run_without(("azure", "httpx", "flask"), "import core.wiring")
