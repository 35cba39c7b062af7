"""infra/hooks/secrets.py, the azd hook that makes Key Vault's secrets once: a secret the vault holds is
never given to the template again (a rotation survives a provision), a missing one is generated or asked
for, the values leave the azd environment after the provision, and the vault is asked through the Azure
CLI for names only. The CLI is a stand-in script on PATH that answers as `az` does (JSON on stdout)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("secrets_hook", ROOT / "infra" / "hooks" / "secrets.py")
hook = importlib.util.module_from_spec(spec)
sys.modules["secrets_hook"] = hook
spec.loader.exec_module(hook)

OUTSIDE = {"SENDBIRD_API_TOKEN": "sb-token", "SHOP_API_KEY": "shop-key", "QNA_API_KEY": "qna-key"}
ALL = {s.name for s in hook.SECRETS}


def test_a_first_provision_generates_and_takes_every_secret():
    values = hook.plan(set(), OUTSIDE, ask=None)
    given = {k.removeprefix(hook.PREFIX): v for k, v in values.items() if k.startswith(hook.PREFIX)}
    assert given["SENDBIRD_API_TOKEN"] == "sb-token" and given["QNA_API_KEY"] == "qna-key"
    for name in ("WEBCHAT_TOKEN_SECRET", "AGENT_API_TOKEN", "ADMIN_SECRET_KEY", "NLU_API_KEY"):
        assert len(given[name]) == 48 and given[name].isalnum()
    assert len(set(given[n] for n in ("WEBCHAT_TOKEN_SECRET", "AGENT_API_TOKEN", "ADMIN_SECRET_KEY"))) == 3
    assert given["NLU_API_KEYS"] == given["NLU_API_KEY"]  # the service accepts the key the function app sends
    assert given["NOTIFY_WEBHOOK_URL"] == "" and values[hook.NOTIFY_FLAG] == "false"


def test_a_secret_the_vault_holds_is_never_given_again():
    """The rotation case: the vault has every secret (some rotated by hand); the environment still holds
    old values. Nothing is given, so the template writes nothing."""
    values = hook.plan(ALL, {**OUTSIDE, "NOTIFY_WEBHOOK_URL": "https://old"}, ask=None)
    assert all(v == "" for k, v in values.items() if k.startswith(hook.PREFIX))
    assert values[hook.NOTIFY_FLAG] == "true"


def test_a_missing_outside_secret_is_asked_for_or_named():
    asked = []
    values = hook.plan(ALL - {"shop-api-key"}, {}, ask=lambda s: asked.append(s.env) or "typed")
    assert asked == ["SHOP_API_KEY"] and values[hook.PREFIX + "SHOP_API_KEY"] == "typed"
    with pytest.raises(hook.HookError) as e:
        hook.plan(ALL - {"shop-api-key", "qna-api-key"}, {}, ask=None)
    assert "shop-api-key" in str(e.value) and "qna-api-key" in str(e.value) and "SHOP_API_KEY" in str(e.value)


def test_the_accepted_keys_are_not_guessed_when_only_they_are_missing():
    with pytest.raises(hook.HookError, match="nlu-api-keys"):
        hook.plan(ALL - {"nlu-api-keys"}, OUTSIDE, ask=None)


FAKE_AZ = r'''#!/usr/bin/env python3
import json, os, re, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
path = os.environ["FAKE_AZ_STATE"]
state = json.load(open(path))  # {"live": [vaults], "deleted": [vaults], "secrets": [names], "group": bool}
named = args[args.index("--name") + 1] if "--name" in args else ""
if args[:2] == ["keyvault", "show"]:
    sys.exit(0 if named in state["live"] else 3)
if args[:2] == ["group", "show"]:
    sys.exit(0 if state["group"] else 3)
if args[:2] == ["group", "create"]:
    state["group"] = True
elif args[:2] == ["keyvault", "list-deleted"]:
    wanted = re.search(r"name=='([^']+)'", args[args.index("--query") + 1]).group(1)
    print(json.dumps([v for v in state["deleted"] if v == wanted]))
elif args[:2] == ["keyvault", "recover"]:
    if not state["group"] or named not in state["deleted"]:
        sys.exit(1)
    state["deleted"].remove(named)
    state["live"].append(named)
elif args[:3] == ["keyvault", "secret", "list"]:
    print(json.dumps(state["secrets"]))
else:
    sys.exit(2)
json.dump(state, open(path, "w"))
'''


@pytest.fixture
def azd(tmp_path, monkeypatch):
    """An azd project (azure.yaml, .azure/dev/.env), the fake `az` first on PATH, and the run."""
    project = tmp_path / "infra"
    (project / ".azure" / "dev").mkdir(parents=True)
    (project / "azure.yaml").write_text("name: switchboard\n")
    env = project / ".azure" / "dev" / ".env"
    env.write_text('AZURE_ENV_NAME="dev"\nAZURE_KEY_VAULT_NAME="kv-test"\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ)
    (bin_dir / "az").chmod((bin_dir / "az").stat().st_mode | stat.S_IEXEC)
    state, log = tmp_path / "state.json", tmp_path / "az.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AZ_STATE", str(state))
    monkeypatch.setenv("FAKE_AZ_LOG", str(log))

    def run(step, vault="live", secrets=(), group=True, **extra):
        live = ["kv-test", "kvml-test"] if vault == "live" else []
        deleted = ["kv-test", "kvml-test"] if vault == "deleted" else []
        state.write_text(json.dumps({"live": live, "deleted": deleted, "secrets": sorted(secrets), "group": group}))
        environ = {**os.environ, "AZURE_ENV_NAME": "dev", "AZURE_KEY_VAULT_NAME": "kv-test", **extra}
        environ = {k: v for k, v in environ.items() if v is not None}
        return hook.main(["secrets.py", step], environ, cwd=project)

    run.env, run.log = env, log
    return run


def unquote(text: str) -> str:
    """What godotenv (azd) reads from a double-quoted value: each `\\x` is x, `\\n` a line break."""
    assert text[0] == text[-1] == '"', text
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text[1:-1])


def dotenv(path: Path) -> dict[str, str]:
    return {k: unquote(v) for k, v in (line.split("=", 1) for line in path.read_text().splitlines() if line)}


def test_before_and_after_a_provision_the_values_come_and_go(azd, capsys):
    assert azd("before-provision", secrets=ALL - {"agent-api-token"}) == 0
    values = dotenv(azd.env)
    assert len(values[hook.PREFIX + "AGENT_API_TOKEN"]) == 48
    assert values[hook.PREFIX + "SENDBIRD_API_TOKEN"] == ""  # held: not given
    assert values["AZURE_KEY_VAULT_NAME"] == "kv-test"  # other lines kept
    assert stat.S_IMODE(azd.env.stat().st_mode) == 0o600
    assert "writing agent-api-token" in capsys.readouterr().out
    calls = [json.loads(line) for line in azd.log.read_text().splitlines()]
    assert all("--value" not in c and not any(v.startswith("sb-") for v in c) for c in calls)  # names only
    assert azd("after-provision") == 0
    assert not [k for k in dotenv(azd.env) if k.startswith(hook.PREFIX)]
    assert dotenv(azd.env)["AZURE_ENV_NAME"] == "dev"


def test_a_vault_left_by_azd_down_is_recovered_with_its_secrets(azd):
    """`azd down` deletes the resource group and the template's outputs from `.env`: the name the hook
    kept after the last provision finds the vault, the group is made again, both vaults are recovered."""
    assert azd("after-provision", AZURE_RESOURCE_GROUP="rg-dev") == 0
    assert dotenv(azd.env)[hook.KEPT_VAULT] == "kv-test" and dotenv(azd.env)[hook.KEPT_GROUP] == "rg-dev"
    kept = dotenv(azd.env)
    assert azd("before-provision", vault="deleted", secrets=ALL, group=False, AZURE_KEY_VAULT_NAME=None,
               AZURE_LOCATION="westeurope", **{k: kept[k] for k in (hook.KEPT_VAULT, hook.KEPT_GROUP)}) == 0
    calls = [json.loads(line) for line in azd.log.read_text().splitlines()]
    assert ["group", "create", "--name", "rg-dev", "--location", "westeurope"] in [c[:6] for c in calls]
    recovered = [c[3] for c in calls if c[:2] == ["keyvault", "recover"]]
    assert recovered == ["kv-test", "kvml-test"]
    assert all(v == "" for k, v in dotenv(azd.env).items() if k.startswith(hook.PREFIX))


def test_a_secret_reaches_the_environment_file_unchanged():
    """azd reads `.env` with godotenv: a `$`, a quote or a non-ASCII letter must come back as it was."""
    value = 'p$HOME"q\\r!`é'
    assert unquote(hook.quote(value)) == value and "$HOME" not in hook.quote(value).replace("\\$", "")


def test_a_missing_outside_secret_fails_the_provision_with_its_name(azd, capsys):
    assert azd("before-provision", vault="none", secrets=()) == 1  # a first provision, nothing exported
    err = capsys.readouterr().err
    assert "sendbird-api-token" in err and "SENDBIRD_API_TOKEN" in err and "Traceback" not in err
    assert azd("before-provision", vault="none", secrets=(), **OUTSIDE) == 0


def test_wrong_usage_says_how(azd, capsys):
    assert hook.main(["secrets.py"]) == 2 and "before-provision" in capsys.readouterr().err
