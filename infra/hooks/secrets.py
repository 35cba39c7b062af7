"""Key Vault's secrets, made once and never overwritten: azd's preprovision and postprovision hook.

    python3 hooks/secrets.py before-provision   (azd runs it before every provision, in infra/)
    python3 hooks/secrets.py after-provision

Before a provision it asks the vault (with the Azure CLI, names only, never values) which secrets it
holds. For each one it lacks, it puts a value into this azd environment's `.env` for main.bicep to
write: 48 random characters for a generated secret, the outside service's secret from the environment
variable of the same name (or a prompt, never echoed) for the others. For a secret the vault has, it
gives nothing, so main.bicep writes nothing and a rotated secret stays as rotated. After the provision
it removes those values from `.env` again, and remembers the vault's name and resource group under
names of its own (`azd down` deletes the template's outputs from `.env`, these stay). A vault left
soft-deleted by `azd down` (purge protection keeps it 7 days) is recovered first, with its secrets,
and so is Azure ML's own vault, whose name would collide too.

Standard library only: it runs on the deployer's machine, with the Azure CLI (`az login`) on PATH.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "SWITCHBOARD_SECRET_"  # main.parameters.json: ${SWITCHBOARD_SECRET_<NAME>=}
NOTIFY_FLAG = "NOTIFY_WEBHOOK_IN_VAULT"
KEPT_VAULT, KEPT_GROUP = "SWITCHBOARD_KEY_VAULT_NAME", "SWITCHBOARD_RESOURCE_GROUP"  # survive `azd down`
GENERATED_LENGTH = 48


@dataclass(frozen=True)
class Secret:
    name: str  # in Key Vault
    env: str  # the setting the apps read, and the variable a deployer gives an outside secret in
    kind: str  # "generated", "outside" (required), "optional", or "copy:<secret>" (first value: that one's)


SECRETS = (
    Secret("sendbird-api-token", "SENDBIRD_API_TOKEN", "outside"),
    Secret("shop-api-key", "SHOP_API_KEY", "outside"),
    Secret("qna-api-key", "QNA_API_KEY", "outside"),
    Secret("webchat-token-secret", "WEBCHAT_TOKEN_SECRET", "generated"),
    Secret("agent-api-token", "AGENT_API_TOKEN", "generated"),
    Secret("admin-secret-key", "ADMIN_SECRET_KEY", "generated"),
    Secret("nlu-api-key", "NLU_API_KEY", "generated"),
    Secret("nlu-api-keys", "NLU_API_KEYS", "copy:nlu-api-key"),
    Secret("notify-webhook-url", "NOTIFY_WEBHOOK_URL", "optional"),
)


class HookError(Exception):
    pass


def generate() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH))


def plan(held: set[str], given: Mapping[str, str], ask: Callable[[Secret], str] | None,
         make: Callable[[], str] = generate) -> dict[str, str]:
    """The environment values for main.bicep: a value for each secret the vault lacks (`held` are the
    names it has), "" for one it has, and NOTIFY_WEBHOOK_IN_VAULT. Raises HookError naming every
    outside secret that is missing with nobody to ask."""
    values: dict[str, str] = {}
    missing: list[str] = []
    written: dict[str, str] = {}
    for s in SECRETS:
        value = ""
        if s.name not in held:
            if s.kind == "generated":
                value = make()
            elif s.kind.startswith("copy:"):
                source = s.kind.split(":", 1)[1]
                if source not in written:
                    missing.append(f"{s.name} (the vault has {source} but not this one: set it to {source}'s value "
                                   f"with `az keyvault secret set --vault-name VAULT --name {s.name} --file FILE`)")
                value = written.get(source, "")
            else:
                value = given.get(s.env, "") or (ask(s) if ask and s.kind == "outside" else "")
                if not value and s.kind == "outside":
                    missing.append(f"{s.name} (export {s.env} for this run, or run azd in a terminal to be asked)")
        if value:
            written[s.name] = value
        values[PREFIX + s.env] = value
    if missing:
        raise HookError("Key Vault lacks: " + "; ".join(missing))
    values[NOTIFY_FLAG] = "true" if "notify-webhook-url" in held or written.get("notify-webhook-url") else "false"
    return values


# ---- the azd environment's .env ---------------------------------------------------------------------

LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")


def env_file(cwd: Path, environ: Mapping[str, str]) -> Path:
    name = environ.get("AZURE_ENV_NAME", "")
    if not name:
        raise HookError("AZURE_ENV_NAME is not set: run this through azd (azd provision / azd up)")
    for folder in (cwd, *cwd.parents):
        if (folder / "azure.yaml").exists():
            return folder / ".azure" / name / ".env"
    raise HookError(f"no azure.yaml in {cwd} or above it")


def quote(value: str) -> str:
    """A double-quoted dotenv value as azd writes and reads them (godotenv): no `$` expansion, UTF-8 kept."""
    escaped = value.replace("\\", "\\\\")
    for char, escape in (("\n", "\\n"), ("\r", "\\r"), ('"', '\\"'), ("!", "\\!"), ("$", "\\$"), ("`", "\\`")):
        escaped = escaped.replace(char, escape)
    return f'"{escaped}"'


def rewrite(path: Path, values: Mapping[str, str], drop_prefix: str = "") -> None:
    """Set `values` in a dotenv file (and drop keys starting with `drop_prefix`), keeping other lines;
    the file stays readable by its owner only."""
    kept = []
    if path.exists():
        for line in path.read_text().splitlines():
            m = LINE.match(line)
            key = m.group(1) if m else None
            if key and (key in values or (drop_prefix and key.startswith(drop_prefix))):
                continue
            kept.append(line)
    kept += [f"{key}={quote(value)}" for key, value in values.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(kept) + "\n")
    os.chmod(path, 0o600)


# ---- the vault, through the Azure CLI (names only) ----------------------------------------------------

def az(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("az")
    if not exe:
        raise HookError("the Azure CLI (az) is not on PATH: install it and `az login` (docs/deploying.md)")
    return subprocess.run([exe, *args, "--only-show-errors", "-o", "json"], capture_output=True, text=True)


def recover(vault: str, group: str, location: str) -> bool:
    """Recover `vault` if it is soft-deleted (into its resource group, made again if `azd down` deleted
    it); False when there is no such vault at all."""
    deleted = az("keyvault", "list-deleted", "--resource-type", "vault", "--query", f"[?name=='{vault}'].name")
    if deleted.returncode != 0 or not json.loads(deleted.stdout or "[]"):
        return False
    print(f"{vault} was deleted and is kept by soft delete: recovering it, with its secrets")
    if group and location and az("group", "show", "--name", group).returncode != 0:
        az("group", "create", "--name", group, "--location", location)
    if az("keyvault", "recover", "--name", vault).returncode != 0:
        raise HookError(f"could not recover the soft-deleted Key Vault {vault} (its resource group {group or '?'} "
                        "must exist): recover it by hand, or use a new azd environment")
    return True


def held_secrets(vault: str, group: str = "", location: str = "") -> set[str]:
    """The names of the secrets in `vault`; an empty set when it does not exist yet. A vault that
    `azd down` left soft-deleted is recovered first, and Azure ML's (`kvml-<same token>`) with it."""
    if not vault:
        return set()  # the first provision: the vault is made by it
    if az("keyvault", "show", "--name", vault).returncode != 0:
        if not recover(vault, group, location):
            return set()
        recover("kvml-" + vault.removeprefix("kv-"), group, location)
    listed = az("keyvault", "secret", "list", "--vault-name", vault, "--query", "[].name")
    if listed.returncode != 0:
        raise HookError(f"cannot list the secrets of {vault} ({listed.stderr.strip()[:200]}): the deployer needs "
                        "Key Vault Secrets Officer on it (main.bicep gives it to AZURE_PRINCIPAL_ID)")
    return set(json.loads(listed.stdout or "[]"))


def ask_terminal(s: Secret) -> str:
    if not sys.stdin.isatty():
        return ""
    return getpass.getpass(f"{s.name} is not in Key Vault yet. {s.env} (not echoed): ").strip()


def main(argv: list[str], environ: Mapping[str, str] = os.environ, cwd: Path | None = None) -> int:
    if argv[1:] not in (["before-provision"], ["after-provision"]):
        print("usage: secrets.py before-provision | after-provision", file=sys.stderr)
        return 2
    try:
        path = env_file(cwd or Path.cwd(), environ)
        if argv[1] == "after-provision":
            kept = {KEPT_VAULT: environ.get("AZURE_KEY_VAULT_NAME", ""),
                    KEPT_GROUP: environ.get("AZURE_RESOURCE_GROUP", "")}
            rewrite(path, {k: v for k, v in kept.items() if v}, drop_prefix=PREFIX)
            return 0
        vault = environ.get("AZURE_KEY_VAULT_NAME") or environ.get(KEPT_VAULT, "")
        group = environ.get("AZURE_RESOURCE_GROUP") or environ.get(KEPT_GROUP, "")
        held = held_secrets(vault, group, environ.get("AZURE_LOCATION", ""))
        values = plan(held, environ, ask_terminal)
        rewrite(path, values)
        made = [s.name for s in SECRETS if values[PREFIX + s.env]]
        print("Key Vault: writing " + (", ".join(made) if made else "nothing (every secret is there)"))
        return 0
    except HookError as e:
        print(f"secrets.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
