"""Checks of infra/ (Bicep, azd) over a templates root: no Bicep CLI is available here, so what a
compiler, a first deployment or a security review would otherwise find late is checked here.

`load(root)` reads `<root>/infra` (and, for what the apps need, `<root>/function_app/branches`,
`<root>/docs/deploying.md`); each `check_*(t)` returns its problems, each naming the file and what is
wrong; `CHECKS` lists them all. tests/infra/test_templates.py runs each on the real infra/,
tests/infra/test_mutations.py on a copy with one mistake in it. The templates are read by
tests/infra/bicepsubset.py (a parser and a symbolic evaluator of the Bicep subset used): a template it cannot
read is reported by `check_parses`, not skipped.

Vocabularies built from the templates (review a new entry before adding it):
- known_properties.txt: every property name written inside a resource body. A new legitimate property
  (checked against the resource type's API reference) must be added there; a typo is not in it.
- API_VERSIONS: every resource type@apiVersion in use (each present today). A new type or version must
  be added there.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import bicepsubset as bicep
import yaml
from bicepsubset import BicepError, Call, Evaluator, Prop, Ref, Sym, alternatives, get, items_of, plain

HERE = Path(__file__).resolve().parent
KNOWN_PROPERTIES = HERE / "known_properties.txt"

# Built-in Azure role definition IDs (identical in every tenant). Looked up in: Microsoft's role
# tables as reproduced in microsoft/azure-skills (rbac-roles.md: AcrPull, Key Vault Secrets User,
# Storage Blob Data Contributor/Reader, Storage Queue Data Contributor), the Azure SDK for Rust's
# azure_storage_blob perf-resources.bicep (Storage Blob Data Owner), Azure Verified Modules'
# machine-learning-services/workspace builtInRoleNames (AzureML Data Scientist), the Azure docs'
# built-in roles tables (Monitoring Metrics Publisher, Key Vault Administrator, Storage Queue Data
# Reader, Storage Queue Data Message Sender) and several independent templates each (Key Vault
# Secrets Officer).
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
}
# Cosmos DB's data-plane built-in roles (sqlRoleDefinitions of the account, not Azure RBAC).
COSMOS_ROLES = {"Cosmos DB Built-in Data Contributor": "00000000-0000-0000-0000-000000000002"}
ROLE_BY_ID = {v: k for k, v in {**BUILT_IN_ROLES, **COSMOS_ROLES}.items()}
# The templates' `roleIds` keys -> the role they must name.
ROLE_KEYS = {
    "storageBlobDataOwner": "Storage Blob Data Owner",
    "storageBlobDataContributor": "Storage Blob Data Contributor",
    "storageBlobDataReader": "Storage Blob Data Reader",
    "storageQueueDataContributor": "Storage Queue Data Contributor",
    "storageQueueDataReader": "Storage Queue Data Reader",
    "storageQueueDataMessageSender": "Storage Queue Data Message Sender",
    "acrPull": "AcrPull",
    "keyVaultSecretsUser": "Key Vault Secrets User",
    "keyVaultSecretsOfficer": "Key Vault Secrets Officer",
    "keyVaultAdministrator": "Key Vault Administrator",
    "monitoringMetricsPublisher": "Monitoring Metrics Publisher",
    "azureMLDataScientist": "AzureML Data Scientist",
}
GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")

# Every resource type and API version in use (each checked against the type's API reference).
API_VERSIONS = {
    "Microsoft.App/containerApps": {"2024-03-01"},
    "Microsoft.App/managedEnvironments": {"2024-03-01"},
    "Microsoft.Authorization/roleAssignments": {"2022-04-01"},
    "Microsoft.ContainerRegistry/registries": {"2023-07-01"},
    "Microsoft.DocumentDB/databaseAccounts": {"2024-05-15"},
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases": {"2024-05-15"},
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers": {"2024-05-15"},
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments": {"2024-05-15"},
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions": {"2024-05-15"},
    "Microsoft.Insights/components": {"2020-02-02"},
    "Microsoft.Insights/diagnosticSettings": {"2021-05-01-preview"},
    "Microsoft.Insights/workbooks": {"2023-06-01"},
    "Microsoft.KeyVault/vaults": {"2023-07-01"},
    "Microsoft.KeyVault/vaults/secrets": {"2023-07-01"},
    "Microsoft.MachineLearningServices/workspaces": {"2024-04-01"},
    "Microsoft.MachineLearningServices/workspaces/computes": {"2024-04-01"},
    "Microsoft.ManagedIdentity/userAssignedIdentities": {"2023-01-31"},
    "Microsoft.OperationalInsights/workspaces": {"2023-09-01"},
    "Microsoft.Storage/storageAccounts": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/blobServices": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/blobServices/containers": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/managementPolicies": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/queueServices": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/queueServices/queues": {"2023-05-01"},
    "Microsoft.Web/serverfarms": {"2024-04-01"},
    "Microsoft.Web/sites": {"2024-04-01"},
}
FLEX_MEMORY_MB = {512, 2048, 4096}  # Flex Consumption instance sizes
# The settings of identity-based Storage and telemetry every app gets (appenv.bicep, functions.bicep).
IDENTITY_STORAGE = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                    "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING"}
AZD_VARIABLES = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID", "AZURE_PRINCIPAL_TYPE"}
PLACEHOLDER_IMAGE = "mcr.microsoft.com/k8se/quickstart"
SERVICE_TEMPLATES = ("nlu", "admin", "worker")
LOG_ANALYTICS = "monitoring.outputs.logAnalyticsId"


# ---- loading ----------------------------------------------------------------------------------------

@dataclass
class AppSpec:
    """A container app as a service template (infra/<service>.bicep) passes it to containerapp.bicep."""
    service: str
    params: dict[str, Any]

    @property
    def env(self) -> dict[str, tuple[dict, list[str]]]:
        """name -> (entry, conditions)."""
        return {e["name"]: (e, c) for e, c in items_of(self.params.get("env", []))}

    @property
    def secrets(self) -> dict[str, dict]:
        return {s["name"]: s for s, _ in items_of(self.params.get("secrets", []))}


@dataclass
class Templates:
    root: Path
    infra: Path
    texts: dict[str, str]  # every text file under infra/, by its path relative to infra/
    files: dict[str, bicep.File] = field(default_factory=dict)  # parsed .bicep files
    errors: dict[str, str] = field(default_factory=dict)  # file -> why it could not be read

    def json(self, name: str) -> dict | None:
        try:
            return json.loads(self.texts[name])
        except (KeyError, ValueError):
            return None

    @cached_property
    def azure_yaml(self) -> dict:
        return yaml.safe_load(self.texts.get("azure.yaml", "")) or {}

    @cached_property
    def hook(self) -> ModuleType:
        """infra/hooks/secrets.py, the secrets azd's preprovision hook writes."""
        path = self.infra / "hooks" / "secrets.py"
        name = f"infra_hook_secrets_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module

    @cached_property
    def bicepparam(self) -> bicep.File:
        return bicep.parse(self.texts["az.bicepparam"])

    @cached_property
    def deployments(self) -> dict[str, Evaluator]:
        """The files azd or az deploys (main.bicep, each infra/<service>.bicep), parameters unbound."""
        return {name: Evaluator(name, file, factory=self._module) for name, file in self.files.items()
                if "/" not in name}

    @property
    def main(self) -> Evaluator:
        return self.deployments["main.bicep"]

    def _module(self, parent: Evaluator, symbol: str) -> Evaluator | None:
        statement = parent.file.modules[symbol]
        path = module_path(parent.name, statement.type)
        if path not in self.files:
            return None
        instances = parent.instances(symbol)
        params = get(instances[0][1], "params") or {} if instances else {}
        return Evaluator(path, self.files[path], params, factory=self._module)

    @cached_property
    def evaluators(self) -> list[Evaluator]:
        """Every deployed file, each module once per place it is deployed from (params bound)."""
        out: list[Evaluator] = []

        def visit(ev: Evaluator) -> None:
            out.append(ev)
            for symbol in ev.file.modules:
                child = ev.module(symbol)
                if child is not None:
                    visit(child)

        for ev in self.deployments.values():
            visit(ev)
        return out

    def module_of(self, parent: Evaluator, path: str) -> Evaluator:
        for symbol, statement in parent.file.modules.items():
            if module_path(parent.name, statement.type) == path:
                child = parent.module(symbol)
                assert child is not None, f"{parent.name}: module {path} cannot be read"
                return child
        raise AssertionError(f"{parent.name} deploys no {path}")

    def app(self, service: str) -> AppSpec:
        ev = self.deployments[f"{service}.bicep"]
        for symbol, statement in ev.file.modules.items():
            if module_path(ev.name, statement.type) == "modules/containerapp.bicep":
                return AppSpec(service, get(ev.instances(symbol)[0][1], "params") or {})
        raise AssertionError(f"{service}.bicep deploys no modules/containerapp.bicep")


def module_path(parent: str, relative: str) -> str:
    parts = [p for p in parent.split("/")[:-1]]
    for piece in relative.split("/"):
        if piece == "..":
            parts = parts[:-1]
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def normpath(path: Path) -> Path:
    """`path` with `..` folded, links not followed (a linked app folder stays inside its root)."""
    return Path(os.path.normpath(path.absolute()))


def load(root: Path) -> Templates:
    infra = root / "infra"
    texts = {}
    for path in sorted(infra.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                texts[path.relative_to(infra).as_posix()] = path.read_text()
            except UnicodeDecodeError:
                continue
    t = Templates(root, infra, texts)
    for name, text in texts.items():
        if name.endswith(".bicep"):
            try:
                t.files[name] = bicep.parse(text)
            except BicepError as e:
                t.errors[name] = str(e)
    return t


# ---- helpers ----------------------------------------------------------------------------------------

def secure_params(file: bicep.File) -> set[str]:
    return {name for name, s in file.params.items() if any(d == "secure" for d, _ in s.decorators)}


def required_params(file: bicep.File) -> set[str]:
    return {name for name, s in file.params.items() if s.value is None}


def resource_type(statement: bicep.Statement) -> str:
    return statement.type.split("@")[0]


def created(t: Templates, type_: str) -> list[tuple[Evaluator, str, Any, list[str]]]:
    """Every resource of `type_` the deployments make (not `existing`): (file, symbol, body, conditions)."""
    out = []
    for ev in t.evaluators:
        for symbol, statement in ev.resources.items():
            if resource_type(statement) == type_ and not statement.existing:
                out.extend((ev, symbol, body, conds) for _, body, conds in ev.instances(symbol))
    return out


def names_created(t: Templates, type_: str) -> set[str]:
    """The last name segment of every `type_` resource made."""
    return {str(get(body, "name")).split("/")[-1] for _, _, body, _ in created(t, type_)}


def describe_scope(value: Any) -> str:
    """A role assignment's scope as `storage`, `container:models`, `queue:x`, `secret:x`, `vault`, ..."""
    if value is None:
        return "resourceGroup"
    if isinstance(value, Prop) and value.name == "id":
        value = value.base
    if isinstance(value, Call) and value.name in ("resourceGroup", "subscription"):
        return value.name
    if not isinstance(value, Ref):
        return bicep.render(value)
    statement = value.ev.resources[value.symbol]
    type_ = resource_type(statement)
    name = str(get(value.ev.resource_body(value), "name"))
    in_ml = value.ev.name == "modules/ml.bicep"
    simple = {
        "Microsoft.Storage/storageAccounts": "ml-storage" if in_ml else "storage",
        "Microsoft.KeyVault/vaults": "ml-vault" if in_ml else "vault",
        "Microsoft.ContainerRegistry/registries": "registry",
        "Microsoft.Insights/components": "appinsights",
        "Microsoft.DocumentDB/databaseAccounts": "cosmos",
        "Microsoft.MachineLearningServices/workspaces": "ml-workspace",
    }
    if type_ in simple:
        return simple[type_]
    prefix = {
        "Microsoft.Storage/storageAccounts/blobServices/containers": "container",
        "Microsoft.Storage/storageAccounts/queueServices/queues": "queue",
        "Microsoft.KeyVault/vaults/secrets": "secret",
    }.get(type_, type_)
    return f"{prefix}:{name.split('/')[-1]}"


def describe_principal(value: Any) -> str:
    text = bicep.render(value)
    m = re.fullmatch(r"identities\.outputs\.(\w+)PrincipalId", text)
    if m:
        return m.group(1)
    if text == "ml.outputs.clusterPrincipalId":
        return "cluster"
    if text == "principalId":
        return "deployer"
    return text


@dataclass(frozen=True)
class Assignment:
    principal: str
    role: str
    scope: str
    conditional: bool
    where: str  # file and resource
    name: Any = None
    principal_value: Any = None
    role_value: Any = None
    scope_value: Any = None
    principal_type: Any = None
    cosmos: bool = False


def role_assignments(t: Templates) -> list[Assignment]:
    """Every role assignment the deployments make: Azure RBAC and Cosmos DB's data plane."""
    out = []
    for ev in t.evaluators:
        for symbol, statement in ev.resources.items():
            type_ = resource_type(statement)
            if statement.existing or type_ not in ("Microsoft.Authorization/roleAssignments",
                                                   "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"):
                continue
            cosmos = type_.startswith("Microsoft.DocumentDB")
            for _, body, conds in ev.instances(symbol):
                if body is None:
                    continue
                props = get(body, "properties") or {}
                role_value = props.get("roleDefinitionId")
                scope_value = props.get("scope") if cosmos else body.get("scope")
                out.append(Assignment(
                    principal=describe_principal(props.get("principalId")),
                    role=describe_role(role_value), scope=describe_scope(scope_value), conditional=bool(conds),
                    where=f"{ev.name} {symbol}", name=body.get("name"), principal_value=props.get("principalId"),
                    role_value=role_value, scope_value=scope_value, principal_type=props.get("principalType"),
                    cosmos=cosmos))
    return out


def describe_role(value: Any) -> str:
    if isinstance(value, Call) and value.name == "subscriptionResourceId" and len(value.args) == 2:
        return ROLE_BY_ID.get(str(value.args[1]), f"unknown role {bicep.render(value.args[1])}")
    if isinstance(value, Prop) and value.name == "id" and isinstance(value.base, Ref):
        name = str(get(value.base.ev.resource_body(value.base), "name"))
        return ROLE_BY_ID.get(name, f"unknown role {name}")
    return f"unknown role {bicep.render(value)}"


def env_refs(text: str) -> list[str]:
    return re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=[^}]*)?\}", text)


def documented(t: Templates) -> str:
    path = t.root / "docs" / "deploying.md"
    return path.read_text() if path.exists() else ""


# ---- checks: parsing and generic ---------------------------------------------------------------------

def check_parses(t: Templates) -> list[str]:
    """Every .bicep file is in the subset the checks read (a misread template is not checked)."""
    problems = [f"{name}: cannot be read: {error}" for name, error in t.errors.items()]
    if "main.bicep" not in t.files and "main.bicep" not in t.errors:
        problems.append("main.bicep is missing")
    try:
        t.bicepparam  # noqa: B018 (parses it)
    except (BicepError, KeyError) as e:
        problems.append(f"az.bicepparam: cannot be read: {e}")
    for name in ("main.parameters.json", *(f"{s}.parameters.json" for s in SERVICE_TEMPLATES), "workbook.json"):
        if t.json(name) is None:
            problems.append(f"{name}: missing or not JSON")
    return problems


def check_balanced(t: Templates) -> list[str]:
    """Every `{`, `[`, `(` is closed, in order, outside strings and comments."""
    problems = []
    pairs = {"}": "{", "]": "[", ")": "("}
    for name, text in t.texts.items():
        if not name.endswith((".bicep", ".bicepparam")):
            continue
        stack: list[tuple[str, int]] = []
        for lineno, line in enumerate(code_only(text).splitlines(), 1):
            for c in line:
                if c in "{[(":
                    stack.append((c, lineno))
                elif c in "}])":
                    if not stack or stack[-1][0] != pairs[c]:
                        problems.append(f"{name} line {lineno}: unmatched {c!r}")
                        break
                    stack.pop()
        problems += [f"{name} line {lineno}: {c!r} never closed" for c, lineno in stack]
    return problems


def code_only(text: str) -> str:
    """`text` with comments and string literal characters blanked (same length, same line breaks),
    keeping the expressions inside `${...}` interpolations."""
    out, i, n = list(text), 0, len(text)
    stack: list[str] = ["code"]  # "code", "string", or "interp" (with brace depth below)
    depths: list[int] = []
    while i < n:
        c, mode = text[i], stack[-1]
        if mode in ("code", "interp"):
            if text.startswith("//", i):
                while i < n and text[i] != "\n":
                    out[i] = " "
                    i += 1
                continue
            if c == "'":
                out[i] = " "
                stack.append("string")
            elif mode == "interp" and c == "{":
                depths[-1] += 1
            elif mode == "interp" and c == "}":
                if depths[-1] == 0:
                    out[i] = " "
                    stack.pop()
                    depths.pop()
                else:
                    depths[-1] -= 1
        else:  # in a string
            if c == "\\":
                out[i] = " "
                if i + 1 < n:
                    out[i + 1] = " "
                i += 2
                continue
            if text.startswith("${", i):
                out[i] = out[i + 1] = " "
                stack.append("interp")
                depths.append(0)
                i += 2
                continue
            if c == "'":
                stack.pop()
            if c != "\n":
                out[i] = " "
        i += 1
    return "".join(out)


def known_properties() -> set[str]:
    return {line.strip() for line in KNOWN_PROPERTIES.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def resource_property_names(file: bicep.File) -> list[tuple[str, int]]:
    """(property name, line) of every unquoted key inside a resource body."""
    found = []
    for statement in file.of("resource").values():
        for node in bicep.walk(statement.value):
            if isinstance(node, bicep.Obj):
                found += [(key, node.line) for key, _ in node.entries if key not in node.quoted]
    return found


def check_known_properties(t: Templates) -> list[str]:
    """Every property name in a resource body is one the templates are known to use (a typo is not);
    a new legitimate property must be added to tests/infra/known_properties.txt."""
    known = known_properties()
    return [f"{name} line {line}: unknown property {key!r} (a typo? if legitimate, add it to "
            f"tests/infra/known_properties.txt)"
            for name, file in t.files.items() for key, line in resource_property_names(file) if key not in known]


def check_api_versions(t: Templates) -> list[str]:
    """Every resource type@apiVersion is in API_VERSIONS (a new one is checked, then added)."""
    problems = []
    for name, file in t.files.items():
        for statement in file.resources.values():
            if "@" not in statement.type:
                continue  # a child resource inside its parent (`resource settings 'config'`)
            type_, version = statement.type.split("@", 1)
            if version not in API_VERSIONS.get(type_, set()):
                problems.append(f"{name} line {statement.line}: {statement.type} is not a known type@apiVersion "
                                f"(known: {sorted(API_VERSIONS.get(type_, set()))})")
    return problems


def check_flex_memory(t: Templates) -> list[str]:
    """Flex Consumption instance memory: @allowed values among 512/2048/4096, the default among them."""
    problems = []
    for name, file in t.files.items():
        for pname, s in file.params.items():
            if not pname.lower().endswith("instancememorymb"):
                continue
            allowed = [d for d, _ in s.decorators if d == "allowed"]
            if not allowed:
                problems.append(f"{name}: {pname} has no @allowed list")
                continue
            args = dict(s.decorators)["allowed"]
            values = set(Evaluator(name, file).eval(args[0], {})) if args else set()
            if not values or not values <= FLEX_MEMORY_MB:
                problems.append(f"{name}: {pname} allows {sorted(values)}, Flex Consumption only "
                                f"{sorted(FLEX_MEMORY_MB)}")
            if s.value is not None:
                default = Evaluator(name, file).eval(s.value, {})
                if default not in values:
                    problems.append(f"{name}: {pname} defaults to {default}, not one of {sorted(values)}")
    if not any(p.lower().endswith("instancememorymb") for f in t.files.values() for p in f.params):
        problems.append("no Flex Consumption instanceMemoryMB parameter found")
    return problems


# ---- checks: module wiring and parameters -------------------------------------------------------------

def check_modules_wired(t: Templates) -> list[str]:
    """Every module file exists, gets exactly its params, every required one."""
    problems = []
    for name, file in t.files.items():
        for symbol, statement in file.modules.items():
            path = module_path(name, statement.type)
            if path not in t.texts:
                problems.append(f"{name}: module {symbol}: {statement.type} does not exist")
                continue
            if path not in t.files:
                continue  # check_parses reports it
            target = t.files[path]
            passed: set[str] = set()
            for node in bicep.walk(statement.value):
                if isinstance(node, bicep.Obj) and any(k == "params" for k, _ in node.entries):
                    params = dict(node.entries)["params"]
                    if isinstance(params, bicep.Obj):
                        passed = {k for k, _ in params.entries}
                    break
            unknown = passed - set(target.params)
            if unknown:
                problems.append(f"{name}: module {symbol} passes params {path} does not declare: {sorted(unknown)}")
            missing = required_params(target) - passed
            if missing:
                problems.append(f"{name}: module {symbol} omits required params of {path}: {sorted(missing)}")
    return problems


def check_no_unused_params(t: Templates) -> list[str]:
    problems = []
    for name, file in t.files.items():
        used = {node.name for s in file.statements if s.kind != "param" or s.value is not None
                for node in bicep.walk(s.value) if isinstance(node, bicep.Ident)}
        used |= {node.name for s in file.statements for _, args in s.decorators for a in args
                 for node in bicep.walk(a) if isinstance(node, bicep.Ident)}
        unused = [p for p in file.params if p not in used]
        if unused:
            problems.append(f"{name}: params declared but never used: {unused}")
    return problems


def check_main_parameters_json(t: Templates) -> list[str]:
    """main.parameters.json sets only main.bicep's params, every required one, each from an azd
    variable, a value the secrets hook writes, or an input docs/deploying.md documents."""
    main, values = t.files.get("main.bicep"), (t.json("main.parameters.json") or {}).get("parameters", {})
    if main is None:
        return []
    problems = []
    unknown = set(values) - set(main.params)
    if unknown:
        problems.append(f"main.parameters.json sets params main.bicep does not declare: {sorted(unknown)}")
    missing = required_params(main) - set(values)
    if missing:
        problems.append(f"main.parameters.json misses required params of main.bicep: {sorted(missing)}")
    hook = t.hook
    allowed = AZD_VARIABLES | {hook.PREFIX + s.env for s in hook.SECRETS} | {hook.NOTIFY_FLAG}
    docs = documented(t)
    for pname, entry in values.items():
        for ref in env_refs(json.dumps(entry)):
            if ref not in allowed and ref not in docs:
                problems.append(f"main.parameters.json: {pname} reads ${{{ref}}}: not an azd variable, not written "
                                f"by hooks/secrets.py, not documented in docs/deploying.md")
    return problems


def check_service_parameters_json(t: Templates) -> list[str]:
    """Each infra/<service>.parameters.json sets only its template's params, every required one, each
    `${NAME}` an output of main.bicep (of the same type), the service's image, AZURE_ENV_NAME,
    AZURE_LOCATION or an input docs/deploying.md documents."""
    main = t.files.get("main.bicep")
    if main is None:
        return []
    outputs = main.outputs
    docs = documented(t)
    problems = []
    services = [n for n, s in (t.azure_yaml.get("services") or {}).items() if s.get("host") == "containerapp"]
    for service in services:
        template, params_name = f"{service}.bicep", f"{service}.parameters.json"
        spec = t.json(params_name)
        if template not in t.files or spec is None:
            problems.append(f"azure.yaml service {service}: infra/{template} and infra/{params_name} must exist "
                            f"(azd deploys a container app from them)")
            continue
        file, values = t.files[template], spec.get("parameters", {})
        unknown = set(values) - set(file.params)
        if unknown:
            problems.append(f"{params_name} sets params {template} does not declare: {sorted(unknown)}")
        missing = required_params(file) - set(values)
        if missing:
            problems.append(f"{params_name} misses required params of {template}: {sorted(missing)}")
        image = f"SERVICE_{service.upper()}_IMAGE_NAME"
        for pname, entry in values.items():
            for ref in env_refs(json.dumps(entry)):
                if ref in outputs:
                    declared = file.params.get(pname)
                    whole = entry.get("value") == f"${{{ref}}}"
                    if declared is not None and whole and declared.type != outputs[ref].type:
                        problems.append(f"{params_name}: {pname} ({declared.type}) reads ${{{ref}}}, "
                                        f"a {outputs[ref].type} output of main.bicep")
                elif ref not in (image, "AZURE_ENV_NAME", "AZURE_LOCATION") and ref not in docs:
                    problems.append(f"{params_name}: {pname} reads ${{{ref}}}: not an output of main.bicep, not "
                                    f"{image}, not documented in docs/deploying.md")
        if values.get("image", {}).get("value") != f"${{{image}}}":
            problems.append(f"{params_name}: image must be ${{{image}}} (the image azd pushed)")
    return problems


def check_az_bicepparam(t: Templates) -> list[str]:
    """az.bicepparam uses main.bicep, sets only its params, every required one, secrets only from
    the environment."""
    main = t.files.get("main.bicep")
    try:
        file = t.bicepparam
    except (BicepError, KeyError):
        return []  # check_parses reports it
    if main is None:
        return []
    problems = []
    using = file.of("using").get("using")
    if using is None or not isinstance(using.value, bicep.Str) or using.value.parts != ["main.bicep"]:
        problems.append("az.bicepparam: must start `using 'main.bicep'`")
    values = file.params
    unknown = set(values) - set(main.params)
    if unknown:
        problems.append(f"az.bicepparam sets params main.bicep does not declare: {sorted(unknown)}")
    missing = required_params(main) - set(values)
    if missing:
        problems.append(f"az.bicepparam misses required params of main.bicep: {sorted(missing)}")
    for name in secure_params(main) & set(values):
        value = values[name].value
        if not (isinstance(value, bicep.CallNode) and isinstance(value.func, bicep.Ident)
                and value.func.name == "readEnvironmentVariable"):
            problems.append(f"az.bicepparam: secret {name} must come from readEnvironmentVariable(...)")
    return problems


def check_outputs_azd_needs(t: Templates) -> list[str]:
    """azd pushes images to AZURE_CONTAINER_REGISTRY_ENDPOINT; the hook reads AZURE_KEY_VAULT_NAME."""
    main = t.files.get("main.bicep")
    if main is None:
        return []
    needed = {"AZURE_CONTAINER_REGISTRY_ENDPOINT", "AZURE_KEY_VAULT_NAME", "AZURE_LOCATION"}
    missing = needed - set(main.outputs)
    return [f"main.bicep lacks outputs azd needs: {sorted(missing)}"] if missing else []


def check_secrets_hook(t: Templates) -> list[str]:
    """Each Key Vault secret is a secure main.bicep param defaulting to '' (written only when given),
    set by main.parameters.json from ${SWITCHBOARD_SECRET_<ENV>=} (the hook's value) and by az.bicepparam
    from readEnvironmentVariable('<ENV>', ''); the hook and main.bicep name the same secrets."""
    main_ev = t.main
    hook = t.hook
    problems = []
    vault = get(main_ev.instances("keyVault")[0][1], "params", "secretValues")
    if not isinstance(vault, dict):
        return ["main.bicep: keyVault's secretValues is not an object of secret name -> param"]
    by_name = {s.name: s for s in hook.SECRETS}
    if set(vault) != set(by_name):
        problems.append(f"main.bicep keyVault secretValues {sorted(vault)} != hooks/secrets.py SECRETS "
                        f"{sorted(by_name)}")
    secure = secure_params(main_ev.file)
    values = (t.json("main.parameters.json") or {}).get("parameters", {})
    az_values = t.bicepparam.params
    for secret, value in vault.items():
        if not isinstance(value, Sym) or value.text not in main_ev.file.params:
            problems.append(f"main.bicep: secretValues['{secret}'] is not a parameter")
            continue
        pname = value.text
        statement = main_ev.file.params[pname]
        if pname not in secure:
            problems.append(f"main.bicep: {pname} (secret {secret}) is not @secure()")
        if not (isinstance(statement.value, bicep.Str) and statement.value.parts in ([""], [])):
            problems.append(f"main.bicep: {pname} must default to '' (a secret is written only when given)")
        if secret not in by_name:
            continue
        env = by_name[secret].env
        expected = f"${{{hook.PREFIX}{env}=}}"
        if get(values.get(pname), "value") != expected:
            problems.append(f"main.parameters.json: {pname} must be {expected} (hooks/secrets.py writes it)")
        az_value = az_values.get(pname)
        args = az_value.value.args if az_value and isinstance(az_value.value, bicep.CallNode) else []
        if not (len(args) == 2 and isinstance(args[0], bicep.Str) and args[0].parts == [env]):
            problems.append(f"az.bicepparam: {pname} must be readEnvironmentVariable('{env}', '')")
    flag = get(values.get("notifyWebhookInVault"), "value") or ""
    if hook.NOTIFY_FLAG not in flag:
        problems.append(f"main.parameters.json: notifyWebhookInVault must read ${{{hook.NOTIFY_FLAG}...}}")
    return problems


# ---- checks: roles ------------------------------------------------------------------------------------

def check_role_guids_known(t: Templates) -> list[str]:
    known = set(ROLE_BY_ID)
    return [f"{name}: {guid} is not a built-in role in the table" for name, text in t.texts.items()
            if name.endswith(".bicep") for guid in GUID.findall(text) if guid.lower() not in known]


def check_role_ids_keys(t: Templates) -> list[str]:
    """Each `roleIds` key names the role whose GUID it holds."""
    problems = []
    for name, file in t.files.items():
        if "roleIds" not in file.vars:
            continue
        value = Evaluator(name, file).var("roleIds")
        for key, guid in value.items():
            claimed = ROLE_KEYS.get(key)
            if claimed is None:
                problems.append(f"{name}: roleIds.{key}: not a known role key")
            elif BUILT_IN_ROLES[claimed] != guid:
                problems.append(f"{name}: roleIds.{key} is {guid}, not {claimed} ({BUILT_IN_ROLES[claimed]})")
    return problems


def check_role_assignments(t: Templates) -> list[str]:
    """Each assignment is named guid(<its scope>.id, principal, role) (a secret's: guid(<vault>.id,
    <secret name>, ...)), an identity's principalType is ServicePrincipal, a Cosmos DB assignment points
    at a sqlRoleDefinitions id, and the container, queue or secret it names exists."""
    problems = []
    made = {
        "container": names_created(t, "Microsoft.Storage/storageAccounts/blobServices/containers"),
        "queue": names_created(t, "Microsoft.Storage/storageAccounts/queueServices/queues"),
        "secret": names_created(t, "Microsoft.KeyVault/vaults/secrets"),
    }
    assignments = role_assignments(t)
    if not assignments:
        return ["no role assignment found"]
    for a in assignments:
        what = f"{a.where}: {a.principal} {a.role}@{a.scope}"
        if a.role.startswith("unknown role"):
            problems.append(f"{what}: not a built-in role (BUILT_IN_ROLES / COSMOS_ROLES)")
        kind, _, name = a.scope.partition(":")
        if kind in made and name not in made[kind]:
            problems.append(f"{what}: no {kind} {name!r} is made (storage.bicep's lists / main's secretValues)")
        if a.cosmos:
            if not (isinstance(a.role_value, Prop) and isinstance(a.role_value.base, Ref)
                    and resource_type(a.role_value.base.ev.resources[a.role_value.base.symbol])
                    == "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions"):
                problems.append(f"{what}: roleDefinitionId must be a sqlRoleDefinitions id (Cosmos DB's data plane), "
                                f"not {bicep.render(a.role_value)}")
            scope_id = a.scope_value
        else:
            scope_id = Prop(a.scope_value if a.scope_value is not None else Call("resourceGroup", ()), "id")
            if a.principal != "deployer" and a.principal_type != "ServicePrincipal":
                problems.append(f"{what}: principalType must be 'ServicePrincipal' (a managed identity)")
        problems += [f"{what}: {p}" for p in name_problems(a, scope_id)]
    return problems


def name_problems(a: Assignment, scope_id: Any) -> list[str]:
    name = a.name
    if not (isinstance(name, Call) and name.name == "guid" and name.args):
        return [f"name must be guid(<scope>.id, principal, role), not {bicep.render(name)}"]
    args = list(name.args)
    role_key = a.role_value.args[1] if isinstance(a.role_value, Call) and len(a.role_value.args) == 2 else a.role_value
    problems = []
    first = args[0]
    if first != scope_id:
        parent = _parent_of(a.scope_value)
        scope_name = _name_of(a.scope_value)
        if not (parent is not None and first == Prop(parent, "id") and scope_name in args):
            problems.append(f"name's first guid() argument must be its scope's id ({bicep.render(scope_id)}), "
                            f"not {bicep.render(first)}")
    if a.principal_value not in args:
        problems.append("name's guid() lacks the principal")
    if role_key not in args and a.role_value not in args:
        problems.append("name's guid() lacks the role")
    return problems


def _parent_of(value: Any) -> Any:
    if isinstance(value, Ref):
        return get(value.ev.resource_body(value), "parent")
    return None


def _name_of(value: Any) -> Any:
    if isinstance(value, Ref):
        return get(value.ev.resource_body(value), "name")
    return None


# ---- checks: what the apps need ---------------------------------------------------------------------

def check_queues(t: Templates) -> list[str]:
    """Every branch (function_app/branches, core.routing) has its queue, every triggered queue its
    `-poison` queue, the training queue is nlu.training's, and storage.bicep makes them all."""
    from core import queues, routing
    from nlu.training import REQUEST_QUEUE

    main = t.main
    problems = []
    triggered = [q for q, _ in items_of(main.var("triggeredQueues"))]
    branches = {p.stem for p in (t.root / "function_app" / "branches").glob("*.py") if p.stem != "__init__"}
    unrouted = set(filter(None, routing.ROUTES.values())) - branches
    if unrouted:
        problems.append(f"core.routing routes to branches with no file in function_app/branches: {sorted(unrouted)}")
    expected = {queues.TURNS_INCOMING, queues.TURNS_OUTGOING} | {queues.queue_for(b) for b in branches}
    missing = expected - set(triggered)
    if missing:
        problems.append(f"main.bicep triggeredQueues misses {sorted(missing)}")
    if main.var("trainingQueue") != REQUEST_QUEUE:
        problems.append(f"main.bicep trainingQueue is not nlu.training.REQUEST_QUEUE ({REQUEST_QUEUE})")
    made = names_created(t, "Microsoft.Storage/storageAccounts/queueServices/queues")
    needed = set(triggered) | {queues.poison_queue(q) for q in triggered} | {REQUEST_QUEUE}
    if needed - made:
        problems.append(f"storage.bicep (queueNames from main.bicep) does not make {sorted(needed - made)}")
    return problems


def check_cosmos_containers(t: Templates) -> list[str]:
    """The Cosmos DB containers made are switchboard.cosmos.PARTITION_KEYS', ratelimits with TTL on."""
    from switchboard.cosmos import COUNTERS, PARTITION_KEYS

    made = {}
    ttl = {}
    for _, _, body, _ in created(t, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"):
        resource = get(body, "properties", "resource") or {}
        made[str(resource.get("id"))] = (get(resource, "partitionKey", "paths") or [None])[0]
        ttl[str(resource.get("id"))] = resource.get("defaultTtl")
    problems = []
    if made != PARTITION_KEYS:
        diff = sorted(set(made.items()) ^ set(PARTITION_KEYS.items()), key=str)
        problems.append(f"cosmos.bicep containers (main.bicep cosmosContainers) differ from "
                        f"switchboard.cosmos.PARTITION_KEYS: {diff}")
    if ttl.get(COUNTERS) != -1:
        problems.append(f"the {COUNTERS} container needs defaultTtl -1 (TTL on, set per document)")
    return problems


def secret_settings(t: Templates) -> dict[str, str]:
    """The settings that hold a secret -> its Key Vault secret's name (hooks/secrets.py)."""
    return {s.env: s.name for s in t.hook.SECRETS}


def function_app_settings(t: Templates) -> dict[str, Any]:
    functions = t.module_of(t.main, "modules/functions.bicep")
    for _, _, body, _ in created(t, "config"):
        if body.get("name") == "appsettings":
            return plain(body.get("properties") or {})
    raise AssertionError(f"{functions.name}: no appsettings config resource")


def needed(env_names_table: dict, required: set[str]) -> set[str]:
    """The settings an app's own table requires (fields it no longer has are skipped), minus COSMOS_KEY
    (Entra ID replaces it) and with the identity convention standing for a storage connection string."""
    names = {env_names_table[f] for f in required if f in env_names_table} - {"COSMOS_KEY"}
    return (names - {"AzureWebJobsStorage", "AZURE_STORAGE_CONNECTION_STRING"}) | IDENTITY_STORAGE


def check_function_app_settings(t: Templates) -> list[str]:
    """The function app's settings cover function_app/core/settings.py's required ones (and what Azure
    needs), Flex Consumption's rules, and each secret is a Key Vault reference to its own secret."""
    from core import settings as function_settings

    settings = function_app_settings(t)
    problems = []
    required = {f for f in function_settings.ENV_NAMES if f not in function_settings.OPTIONAL}
    required |= {"webchat_token_secret", "appinsights_connection"}  # required on Azure
    missing = needed(function_settings.ENV_NAMES, required) - set(settings)
    if missing:
        problems.append(f"functions.bicep app settings miss {sorted(missing)}")
    if "COSMOS_KEY" in settings:
        problems.append("functions.bicep: COSMOS_KEY set (Entra ID only)")
    if settings.get("PYTHON_ENABLE_OPENTELEMETRY") != "true":
        problems.append("functions.bicep: PYTHON_ENABLE_OPENTELEMETRY must be 'true'")
    for forbidden in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_PROCESS_COUNT"):
        if forbidden in settings:
            problems.append(f"functions.bicep: Flex Consumption rejects {forbidden}")
    for name, secret in secret_settings(t).items():
        if name not in settings:
            continue
        value = settings[name]
        if not (isinstance(value, str) and value.startswith("@Microsoft.KeyVault(SecretUri=")
                and value.endswith(f"secrets/{secret})")):
            problems.append(f"functions.bicep: {name} must be @Microsoft.KeyVault(SecretUri=...secrets/{secret}), "
                            f"not {bicep.render(value)}")
    return problems


APP_NEEDS = {
    "worker": {"TRAINING_BACKEND", "NLU_REGISTRY", "TRAINING_STORE", "ADMIN_BASE_URL", "NOTIFY_WEBHOOK_URL"},
    "nlu": {"NLU_REGISTRY"},
}


def check_container_envs(t: Templates) -> list[str]:
    """Each container app's env (appenv.bicep's output + its template's list) covers what the app
    validates: admin_site/settings.py, training_jobs' AzureMLSettings, inference_container's keys."""
    from admin_site import settings as admin_config
    from inference_container.app import KEYS_SETTING
    from training_jobs.azureml import AzureMLSettings

    required = {
        "admin": needed(admin_config.ENV_NAMES, set(admin_config.REQUIRED) | {
            "base_url", "cosmos_endpoint", "cosmos_database", "functions_url", "agent_api_token", "qna_endpoint",
            "qna_api_key", "qna_project", "trusted_proxies", "nlu_registry", "training_store"}),
        "worker": set(AzureMLSettings.REQUIRED) | {"AZUREML_COMPUTE"} | APP_NEEDS["worker"] | IDENTITY_STORAGE,
        "nlu": APP_NEEDS["nlu"] | {KEYS_SETTING} | IDENTITY_STORAGE,
    }
    problems = []
    for service, names in required.items():
        env = t.app(service).env
        missing = names - set(env)
        if missing:
            problems.append(f"{service}.bicep: the container env misses {sorted(missing)}")
        if "COSMOS_KEY" in env:
            problems.append(f"{service}.bicep: COSMOS_KEY set (Entra ID only)")
        for name, (_, conds) in env.items():
            if name in IDENTITY_STORAGE and conds:
                problems.append(f"{service}.bicep: {name} only when {conds}")
    return problems


def check_secrets_via_key_vault(t: Templates) -> list[str]:
    """A secret setting is a Key Vault secret reference (secretRef to a keyVaultUrl secret) in every
    container app; secure params reach no module but keyVault."""
    problems = []
    secrets = secret_settings(t)
    for service in SERVICE_TEMPLATES:
        app = t.app(service)
        for name, (entry, _) in app.env.items():
            if name in secrets and ("secretRef" not in entry or "value" in entry):
                problems.append(f"{service}.bicep: {name} must be a secretRef (Key Vault), not a value")
            elif name in secrets:
                url = str(get(app.secrets.get(entry["secretRef"]), "keyVaultUrl"))
                if not url.endswith(f"secrets/{secrets[name]}"):
                    problems.append(f"{service}.bicep: {name} must read Key Vault secret {secrets[name]}, not {url}")
        for secret in app.secrets.values():
            if set(secret) != {"name", "keyVaultUrl"}:
                problems.append(f"{service}.bicep: secret {secret.get('name')} must be {{ name, keyVaultUrl }} only")
    main = t.files["main.bicep"]
    secure = secure_params(main)
    for symbol, statement in main.modules.items():
        if symbol == "keyVault":
            continue
        reached = {n.name for n in bicep.walk(statement.value) if isinstance(n, bicep.Ident)}
        for var in list(reached):  # through a var
            if var in main.vars:
                reached |= {n.name for n in bicep.walk(main.vars[var].value) if isinstance(n, bicep.Ident)}
        if reached & secure:
            problems.append(f"main.bicep: secure params {sorted(reached & secure)} reach module {symbol} "
                            f"(only keyVault may get a secret)")
    return problems


def check_secret_references(t: Templates) -> list[str]:
    """Every secretRef names a secret of its app's `secrets` list (and every listed secret is used);
    every Key Vault secret URI (`secrets/<name>`) names a secret main.bicep writes (secretValues)."""
    problems = []
    vault = get(t.main.instances("keyVault")[0][1], "params", "secretValues") or {}
    for service in SERVICE_TEMPLATES:
        app = t.app(service)
        refs = {entry["secretRef"] for entry, _ in app.env.values() if "secretRef" in entry}
        for ref in sorted(refs - set(app.secrets)):
            problems.append(f"{service}.bicep: secretRef {ref!r} is not in the app's secrets list")
        for unused in sorted(set(app.secrets) - refs):
            problems.append(f"{service}.bicep: secret {unused!r} is listed but no env reads it")
    for name, text in t.texts.items():
        if name.endswith(".bicep"):
            for uri in re.findall(r"secrets/([A-Za-z0-9-]+)'", text):
                if uri not in vault:
                    problems.append(f"{name}: Key Vault secret URI names {uri!r}, not in main.bicep's secretValues")
    return problems


def check_azure_yaml(t: Templates) -> list[str]:
    """azure.yaml's services exist and match the templates' `azd-service-name` tags; no postup hook."""
    spec = t.azure_yaml
    problems = []
    infra_spec = spec.get("infra") or {}
    if infra_spec.get("path") != "." or infra_spec.get("module") != "main":
        problems.append("azure.yaml: infra must be path '.' and module 'main'")
    tagged = set()
    for _, _, body, _ in created(t, "Microsoft.Web/sites") + created(t, "Microsoft.App/containerApps"):
        tags = body.get("tags")
        tag = tags.get("azd-service-name") if isinstance(tags, dict) else None
        if tag is None:
            problems.append("a function or container app has no azd-service-name tag")
        tagged.add(str(tag))
    services = spec.get("services") or {}
    if set(services) != tagged:
        problems.append(f"azure.yaml services {sorted(services)} != azd-service-name tags {sorted(tagged)}")
    for name, service in services.items():
        project = normpath(t.infra / service.get("project", ""))
        if not project.is_dir():
            problems.append(f"azure.yaml: {name}: project {service.get('project')} does not exist")
            continue
        if service.get("host") == "containerapp":
            docker = service.get("docker") or {}
            if not (project / docker.get("path", "")).is_file():
                problems.append(f"azure.yaml: {name}: Dockerfile {docker.get('path')} does not exist")
            if normpath(project / docker.get("context", "")) != normpath(t.root):
                problems.append(f"azure.yaml: {name}: docker context must be the repository root")
        elif not (service.get("host") == "function" and (project / "host.json").is_file()):
            problems.append(f"azure.yaml: {name}: a function service needs host.json in its project")
    hooks = spec.get("hooks") or {}
    if "postup" in hooks:
        problems.append("azure.yaml: a postup hook (the app templates deploy each app with its image: no second "
                        "provision)")
    for stage in ("preprovision", "postprovision"):
        runs = [v.get("run", "") for v in (hooks.get(stage) or {}).values() if isinstance(v, dict)]
        if not runs or not all("hooks/secrets.py" in r for r in runs) or "hooks/secrets.py" not in t.texts:
            problems.append(f"azure.yaml: the {stage} hook must run hooks/secrets.py (Key Vault's secrets)")
    return problems


# ---- checks: the workbook -----------------------------------------------------------------------------

SPAN_NAMES = {"understand", "deliver", "sendbird_webhook", "webchat_messages"}
SPAN_PREFIXES = {"intent_"}
ATTRIBUTES = {"switchboard.turn_id", "switchboard.conversation_id", "switchboard.channel", "switchboard.step",
              "switchboard.intent", "switchboard.out_of_scope", "switchboard.branch", "switchboard.end_to_end_ms",
              "switchboard.failed"}


def check_workbook(t: Templates) -> list[str]:
    """The workbook is deployed from the template, bound to its Application Insights, and its queries
    use only the spans and attributes the function app emits."""
    problems = []
    monitoring = t.texts.get("modules/monitoring.bicep", "")
    if ("replace(loadTextContent('../workbook.json'), '\"Azure Monitor\"', '\"${appInsights.id}\"')"
            not in monitoring):
        problems.append("monitoring.bicep: the workbook must be loadTextContent('../workbook.json') with "
                        "\"Azure Monitor\" replaced by its Application Insights id")
    workbook = t.json("workbook.json") or {}
    if workbook.get("version") != "Notebook/1.0":
        problems.append("workbook.json: version must be Notebook/1.0")
    if workbook.get("fallbackResourceIds") != ["Azure Monitor"]:
        problems.append("workbook.json: fallbackResourceIds must be [\"Azure Monitor\"]")
    queries = [item["content"]["query"] for item in workbook.get("items", []) if item.get("type") == 3]
    if len(queries) < 5:
        problems.append(f"workbook.json: {len(queries)} queries, expected 5 or more")
    for query in queries:
        if not re.match(r"(let \w+ = )?requests\b", query.strip()):
            problems.append(f"workbook.json: a query not over requests: {query[:60]}")
        for attribute in re.findall(r"customDimensions\[\"([^\"]+)\"\]", query):
            if attribute not in ATTRIBUTES:
                problems.append(f"workbook.json: unknown attribute {attribute}")
        if re.search(r"customDimensions\.", query):
            problems.append("workbook.json: use customDimensions[\"...\"]")
        names = re.findall(r"name == \"([^\"]+)\"", query)
        for group in re.findall(r"name in \(([^)]*)\)", query):
            names += re.findall(r"\"([^\"]+)\"", group)
        problems += [f"workbook.json: unknown span {n}" for n in names if n not in SPAN_NAMES]
        problems += [f"workbook.json: unknown span prefix {p}"
                     for p in re.findall(r"name startswith \"([^\"]+)\"", query) if p not in SPAN_PREFIXES]
    text = "\n".join(queries)
    for piece in ("switchboard.channel", "switchboard.out_of_scope", "\"human_handoff\"", "\"fallback\"",
                  "switchboard.failed", "switchboard.end_to_end_ms", "switchboard.intent", "percentile(duration, 99)"):
        if piece not in text:
            problems.append(f"workbook.json: no query uses {piece}")
    return problems


# ---- checks: security posture -------------------------------------------------------------------------

def expect(problems: list[str], where: str, body: Any, path: str, wanted: Any) -> None:
    value = get(body, *path.split("."))
    if value != wanted:
        problems.append(f"{where}: {path} must be {bicep.render(wanted)}, not {bicep.render(value)}")


def require(t: Templates, type_: str, wanted: dict[str, Any], file: str = "") -> tuple[list[str], list]:
    """Each resource of `type_` (only those made in `file`, when given) has each path's wanted value:
    (the problems, every resource of the type found)."""
    problems: list[str] = []
    found = created(t, type_)
    for ev, symbol, body, _ in found:
        if not file or ev.name == file:
            for path, value in wanted.items():
                expect(problems, f"{ev.name} {symbol}", body, path, value)
    return problems, found


def check_storage_posture(t: Templates) -> list[str]:
    problems, accounts = require(t, "Microsoft.Storage/storageAccounts", {
        "properties.minimumTlsVersion": "TLS1_2", "properties.allowBlobPublicAccess": False,
        "properties.supportsHttpsTrafficOnly": True})
    problems += require(t, "Microsoft.Storage/storageAccounts", {"properties.allowSharedKeyAccess": False},
                        "modules/storage.bicep")[0]
    if not any(ev.name == "modules/storage.bicep" for ev, *_ in accounts):
        problems.append("modules/storage.bicep makes no storage account")
    more, services = require(t, "Microsoft.Storage/storageAccounts/blobServices", {
        "properties.isVersioningEnabled": True, "properties.deleteRetentionPolicy.enabled": True,
        "properties.containerDeleteRetentionPolicy.enabled": True})
    problems += more if services else ["no blob service settings (versioning, soft delete)"]
    problems += require(t, "Microsoft.Storage/storageAccounts/blobServices/containers",
                        {"properties.publicAccess": "None"})[0]
    return problems


def check_cosmos_posture(t: Templates) -> list[str]:
    problems, accounts = require(t, "Microsoft.DocumentDB/databaseAccounts", {
        "properties.disableLocalAuth": True, "properties.disableKeyBasedMetadataWriteAccess": True,
        "properties.minimalTlsVersion": "Tls12", "properties.backupPolicy.type": "Continuous"})
    return problems if accounts else ["no Cosmos DB account"]


def check_key_vault_posture(t: Templates) -> list[str]:
    problems, vaults = require(t, "Microsoft.KeyVault/vaults", {
        "properties.enableRbacAuthorization": True, "properties.enableSoftDelete": True})
    problems += require(t, "Microsoft.KeyVault/vaults", {"properties.enablePurgeProtection": True},
                        "modules/keyvault.bicep")[0]
    if not any(ev.name == "modules/keyvault.bicep" for ev, *_ in vaults):
        problems.append("modules/keyvault.bicep makes no vault")
    return problems


def check_aml_posture(t: Templates) -> list[str]:
    problems, clusters = require(t, "Microsoft.MachineLearningServices/workspaces/computes", {
        "properties.properties.remoteLoginPortPublicAccess": "Disabled",
        "properties.properties.scaleSettings.minNodeCount": 0})
    for ev, symbol, body, _ in clusters:
        name = bicep.render(body.get("name"))
        if "amlVmSize" not in name or "amlVmPriority" not in name:
            problems.append(f"{ev.name} {symbol}: the cluster name must derive from amlVmSize and amlVmPriority "
                            f"(AmlCompute cannot change them in place), not {name}")
    return problems if clusters else ["no Azure ML cluster"]


def check_function_app_posture(t: Templates) -> list[str]:
    problems, sites = require(t, "Microsoft.Web/sites", {
        "properties.httpsOnly": True, "properties.siteConfig.minTlsVersion": "1.2",
        "properties.siteConfig.ftpsState": "Disabled"})
    return problems if sites else ["no function app"]


def check_container_apps_posture(t: Templates) -> list[str]:
    """No insecure ingress; the NLU service requires its keys (from Key Vault); the probes: NLU
    readiness /readyz and liveness /healthz on 8080; the admin site's liveness /livez (the process, not
    Cosmos DB) and readiness /healthz on 7104; the worker with no ingress, running `worker`."""
    problems = []
    for ev, symbol, body, _ in created(t, "Microsoft.App/containerApps"):
        for ingress in alternatives(get(body, "properties", "configuration", "ingress")):
            if isinstance(ingress, dict) and ingress.get("allowInsecure") is not False:
                problems.append(f"{ev.name} {symbol}: ingress allowInsecure must be false")
    for name, text in t.texts.items():
        if re.search(r"allowInsecure:\s*true", text):
            problems.append(f"{name}: allowInsecure: true")
    nlu = t.app("nlu")
    entry, conds = nlu.env.get("NLU_API_KEYS", ({}, []))
    if "secretRef" not in entry or conds:
        problems.append("nlu.bicep: NLU_API_KEYS must always be set from a Key Vault secret (no anonymous parses)")

    def probe(app: Any, kind: str) -> Any:
        found = [p for p, _ in items_of(app.params.get("probes", [])) if p.get("type") == kind]
        return get(found[0], "httpGet") if found else None

    wanted = {("nlu", "Readiness"): ("/readyz", 8080), ("nlu", "Liveness"): ("/healthz", 8080),
              ("admin", "Liveness"): ("/livez", 7104), ("admin", "Readiness"): ("/healthz", 7104)}
    for (service, kind), (path, port) in wanted.items():
        got = probe(t.app(service), kind) or {}
        if (got.get("path"), got.get("port")) != (path, port):
            problems.append(f"{service}.bicep: the {kind} probe must be {path} on {port}, not "
                            f"{got.get('path')} on {got.get('port')}")
        if t.app(service).params.get("targetPort") != port:
            problems.append(f"{service}.bicep: targetPort must be {port}")
    worker = t.app("worker")
    if worker.params.get("targetPort") != 0 or worker.params.get("args") != ["worker"]:
        problems.append("worker.bicep: no ingress (targetPort 0) and args ['worker']")
    return problems


DIAGNOSED = {  # resource type -> a log category its diagnostic setting must send
    "Microsoft.KeyVault/vaults": "AuditEvent",
    "Microsoft.Storage/storageAccounts/blobServices": "StorageRead",
    "Microsoft.Storage/storageAccounts/queueServices": "StorageRead",
    "Microsoft.DocumentDB/databaseAccounts": "DataPlaneRequests",
    "Microsoft.ContainerRegistry/registries": "ContainerRegistryLoginEvents",
    "Microsoft.Web/sites": "FunctionAppLogs",
    "Microsoft.App/managedEnvironments": "ContainerAppConsoleLogs",
}


def check_diagnostics(t: Templates) -> list[str]:
    """A diagnostic setting to Log Analytics for Key Vault (AuditEvent), Storage's blob and queue
    services, Cosmos DB, the registry, the function app and the Container Apps environment."""
    problems = []
    covered: dict[str, set[str]] = {}
    for ev, symbol, body, _ in created(t, "Microsoft.Insights/diagnosticSettings"):
        scope = body.get("scope")
        if not isinstance(scope, Ref):
            problems.append(f"{ev.name} {symbol}: scope must be a resource")
            continue
        scope_statement = scope.ev.resources[scope.symbol]
        if scope_statement.existing:
            continue
        if ev.name == "modules/ml.bicep" and resource_type(scope_statement) == "Microsoft.KeyVault/vaults":
            continue
        workspace = get(body, "properties", "workspaceId")
        if bicep.render(workspace) != LOG_ANALYTICS:
            problems.append(f"{ev.name} {symbol}: workspaceId must be {LOG_ANALYTICS}, not {bicep.render(workspace)}")
        logs = {get(entry, "category") for entry in plain(get(body, "properties", "logs") or [])
                if get(entry, "enabled") is True}
        covered.setdefault(resource_type(scope_statement), set()).update(logs)
    for type_, category in DIAGNOSED.items():
        if category not in covered.get(type_, set()):
            problems.append(f"no diagnostic setting sends {category} of {type_} to Log Analytics")
    return problems


def check_azd_principal_type(t: Templates) -> list[str]:
    """A service principal (CI) deploying as 'User' is refused (UnmatchedPrincipalType): azd passes
    AZURE_PRINCIPAL_TYPE, with a default for a person."""
    value = get((t.json("main.parameters.json") or {}).get("parameters", {}), "principalType", "value")
    return [] if value == "${AZURE_PRINCIPAL_TYPE=User}" else [
        f"main.parameters.json: principalType must be ${{AZURE_PRINCIPAL_TYPE=User}}, not {value}"]


def check_no_placeholder(t: Templates) -> list[str]:
    """No placeholder image (each app is deployed with its own) and no `postup` provision hook."""
    problems = [f"{name}: the placeholder image {PLACEHOLDER_IMAGE}" for name, text in t.texts.items()
                if PLACEHOLDER_IMAGE in text]
    if re.search(r"^\s*postup\s*:", t.texts.get("azure.yaml", ""), re.M):
        problems.append("azure.yaml: a postup hook")
    return problems


CHECKS: list[Callable[[Templates], list[str]]] = [
    check_parses, check_balanced, check_known_properties, check_api_versions, check_flex_memory,
    check_modules_wired, check_no_unused_params, check_main_parameters_json, check_service_parameters_json,
    check_az_bicepparam, check_outputs_azd_needs, check_secrets_hook,
    check_role_guids_known, check_role_ids_keys, check_role_assignments,
    check_queues, check_cosmos_containers, check_function_app_settings, check_container_envs,
    check_secrets_via_key_vault, check_secret_references, check_azure_yaml, check_workbook,
    check_storage_posture, check_cosmos_posture, check_key_vault_posture, check_aml_posture,
    check_function_app_posture, check_container_apps_posture, check_diagnostics, check_azd_principal_type,
    check_no_placeholder,
]


def run(check: Callable[[Templates], list[str]], t: Templates) -> list[str]:
    """A check's problems; a check that cannot read what it checks reports that as its problem."""
    try:
        return check(t)
    except (BicepError, AssertionError, KeyError, TypeError, AttributeError, IndexError, ValueError) as e:
        return [f"{check.__name__} could not check the templates: {type(e).__name__}: {e}"]
