"""Structural checks of infra/ (Bicep, azd): no Bicep CLI is available here, so a small parser of the
Bicep subset the templates use checks what a compiler or a first deployment would otherwise find late:
module wiring, parameter files, unused parameters, role GUIDs, the settings each app validates at
start-up, secrets only through Key Vault, probes, azure.yaml and the workbook's KQL."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from admin_site import settings as admin_config
from core import queues, routing
from core import settings as function_settings
from training_jobs.azureml import AzureMLSettings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"

# Built-in Azure role definition IDs (identical in every tenant). Looked up in: Microsoft's role
# tables as reproduced in microsoft/azure-skills (rbac-roles.md: AcrPull, Key Vault Secrets User,
# Storage Blob Data Contributor/Reader, Storage Queue Data Contributor), the Azure SDK for Rust's
# azure_storage_blob perf-resources.bicep (Storage Blob Data Owner), Azure Verified Modules'
# machine-learning-services/workspace builtInRoleNames (AzureML Data Scientist), the Azure docs'
# built-in roles tables (Monitoring Metrics Publisher, Key Vault Administrator) and several
# independent templates each (Key Vault Secrets Officer).
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
}
# Cosmos DB's data-plane built-in roles (sqlRoleDefinitions of the account, not Azure RBAC).
COSMOS_ROLES = {"Cosmos DB Built-in Data Contributor": "00000000-0000-0000-0000-000000000002"}
# The templates' `roleIds` keys -> the role they must name.
ROLE_KEYS = {
    "storageBlobDataOwner": "Storage Blob Data Owner",
    "storageBlobDataContributor": "Storage Blob Data Contributor",
    "storageBlobDataReader": "Storage Blob Data Reader",
    "storageQueueDataContributor": "Storage Queue Data Contributor",
    "acrPull": "AcrPull",
    "keyVaultSecretsUser": "Key Vault Secrets User",
    "keyVaultSecretsOfficer": "Key Vault Secrets Officer",
    "keyVaultAdministrator": "Key Vault Administrator",
    "monitoringMetricsPublisher": "Monitoring Metrics Publisher",
    "azureMLDataScientist": "AzureML Data Scientist",
}
SECRET_SETTINGS = {"SENDBIRD_API_TOKEN", "SHOP_API_KEY", "QNA_API_KEY", "AGENT_API_TOKEN", "WEBCHAT_TOKEN_SECRET",
                   "ADMIN_SECRET_KEY", "NOTIFY_WEBHOOK_URL"}
IDENTITY_STORAGE = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                    "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING"}
GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


# ---- a parser of the Bicep subset used ------------------------------------------------------------

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


def block_after(text: str, code: str, start: int) -> tuple[str, str]:
    """The bracketed block ({...} or [...]) that opens at or after `start`: (original text, code)."""
    opening = re.compile(r"[\[{]").search(code, start)
    assert opening, f"no block after offset {start}"
    begin, depth = opening.start(), 0
    for j in range(begin, len(code)):
        if code[j] in "[{":
            depth += 1
        elif code[j] in "]}":
            depth -= 1
            if depth == 0:
                return text[begin:j + 1], code[begin:j + 1]
    raise AssertionError("unbalanced block")


def top_level_keys(block_code: str) -> list[str]:
    """Keys (identifiers) at the first nesting level of an object block's code."""
    keys, depth = [], 0
    for line in block_code.splitlines():
        stripped = line.strip()
        if depth == 1:
            m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*:", stripped)
            if m:
                keys.append(m.group(1))
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return keys


class Bicep:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text()
        self.code = code_only(self.text)
        self.params: dict[str, bool] = {}  # name -> required (no default)
        self.decorators: dict[str, str] = {}
        for m in re.finditer(r"^param\s+(\w+)\s+(\w+)(.*)$", self.code, re.M):
            self.params[m.group(1)] = "=" not in m.group(3)
            before = self.text[:m.start()].rsplit("\n\n", 1)[-1]
            self.decorators[m.group(1)] = before
        self.outputs = re.findall(r"^output\s+(\w+)\s", self.code, re.M)
        self.resources = re.findall(r"^resource\s+(\w+)\s", self.code, re.M)

    def modules(self) -> dict[str, tuple[str, list[str], str]]:
        """symbol -> (path, keys of params, params block text)."""
        found = {}
        for m in re.finditer(r"^module\s+(\w+)\s+'([^']+)'\s*=", self.text, re.M):
            body_text, body_code = block_after(self.text, self.code, m.end())
            at = re.search(r"\bparams\s*:", body_code)
            assert at, f"module {m.group(1)} passes no params"
            params_text, params_code = block_after(body_text, body_code, at.end())
            found[m.group(1)] = (m.group(2), top_level_keys(params_code), params_text)
        return found

    def var_block(self, name: str) -> tuple[str, str]:
        m = re.search(rf"^var\s+{name}\s*=", self.code, re.M)
        assert m, f"{self.path.name}: no var {name}"
        return block_after(self.text, self.code, m.end())

    def uses(self, name: str) -> int:
        return len(re.findall(rf"(?<![\w.]){name}\b", self.code))


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def env_names(block_text: str) -> dict[str, str]:
    """An env array's entries: name -> the rest of its entry (value or secretRef)."""
    return {m.group(1): m.group(2) for m in re.finditer(r"\{\s*name:\s*'([^']+)',?\s*([^}\n]*)\}", block_text)}


def azd_generated(bicep: Bicep, name: str) -> bool:
    return re.search(r"type:\s*'generate'", bicep.decorators[name]) is not None


# ---- module wiring and parameters ----------------------------------------------------------------

def test_every_module_exists_and_gets_exactly_its_params():
    main = Bicep(MAIN)
    assert main.modules(), "main.bicep declares no modules"
    for symbol, (path, passed, _) in main.modules().items():
        target = (INFRA / path)
        assert target.is_file(), f"module {symbol}: {path} does not exist"
        module = Bicep(target)
        unknown = set(passed) - set(module.params)
        assert not unknown, f"module {symbol} passes params {path} does not declare: {sorted(unknown)}"
        missing = {p for p, required in module.params.items() if required} - set(passed)
        assert not missing, f"module {symbol} omits required params of {path}: {sorted(missing)}"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_no_declared_param_is_unused(path):
    bicep = Bicep(path)
    unused = [p for p in bicep.params if bicep.uses(p) < 2]
    assert not unused, f"{path.name}: params declared but never used: {unused}"


AZD_PROMPTS = {"sendbirdApiToken", "shopApiKey", "qnaApiKey"}


def test_main_parameters_json_sets_declared_params_and_every_required_one():
    main = Bicep(MAIN)
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(values) <= set(main.params), f"unknown: {sorted(set(values) - set(main.params))}"
    required = {p for p, req in main.params.items() if req and not azd_generated(main, p)} - AZD_PROMPTS
    assert required <= set(values), f"main.parameters.json misses {sorted(required - set(values))}"
    # the outside services' secrets: azd asks for them (input hidden) on the first `azd up`, keeps
    # them in the environment's config, and the template writes them to Key Vault
    assert AZD_PROMPTS <= {p for p in main.params if re.search(r"@secure\(\)", main.decorators[p])}
    assert not AZD_PROMPTS & set(values)
    for name in ("webchatTokenSecret", "adminSecretKey"):  # azd generates these (48 characters)
        assert azd_generated(main, name) and name not in values
    for name, entry in values.items():
        if re.search(r"@secure\(\)", main.decorators[name]):
            assert entry["value"].startswith("$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} "), name


def test_az_bicepparam_sets_declared_params_and_every_required_one():
    main = Bicep(MAIN)
    text = (INFRA / "az.bicepparam").read_text()
    assert re.search(r"^using 'main\.bicep'$", text, re.M)
    values = dict(re.findall(r"^param\s+(\w+)\s*=\s*(.+)$", text, re.M))
    assert set(values) <= set(main.params), f"unknown: {sorted(set(values) - set(main.params))}"
    required = {p for p, req in main.params.items() if req}
    assert required <= set(values), f"az.bicepparam misses {sorted(required - set(values))}"
    for name, value in values.items():  # secrets come from the environment, never from the file
        if re.search(r"@secure\(\)", main.decorators[name]):
            assert value.startswith("readEnvironmentVariable("), name


def test_outputs_azd_needs():
    outputs = set(Bicep(MAIN).outputs)
    assert {"AZURE_CONTAINER_REGISTRY_ENDPOINT", "AZURE_KEY_VAULT_NAME", "AZURE_LOCATION"} <= outputs


# ---- roles -----------------------------------------------------------------------------------------

def test_every_guid_is_a_known_built_in_role():
    known = set(BUILT_IN_ROLES.values()) | set(COSMOS_ROLES.values())
    for path in bicep_files():
        for guid in GUID.findall(path.read_text()):
            assert guid.lower() in known, f"{path.name}: {guid} is not a built-in role in the table"


@pytest.mark.parametrize("path", [INFRA / "modules" / "roles.bicep", INFRA / "modules" / "ml.bicep"],
                         ids=lambda p: p.name)
def test_role_ids_name_the_role_they_claim(path):
    block_text, _ = Bicep(path).var_block("roleIds")
    pairs = re.findall(r"(\w+):\s*'([0-9a-f-]{36})'", block_text)
    assert pairs
    for key, guid in pairs:
        assert BUILT_IN_ROLES[ROLE_KEYS[key]] == guid, f"{path.name}: roleIds.{key} is not {ROLE_KEYS[key]}"


def test_cosmos_data_contributor_and_principals():
    text = (INFRA / "modules" / "cosmos.bicep").read_text()
    assert f"name: '{COSMOS_ROLES['Cosmos DB Built-in Data Contributor']}'" in text
    _, _, params = Bicep(MAIN).modules()["cosmos"]
    assert "functionsPrincipalId" in params and "adminPrincipalId" in params


# ---- what the apps need -----------------------------------------------------------------------------

def test_queues_cover_every_branch_and_the_pipeline():
    text, _ = Bicep(MAIN).var_block("queueNames")
    declared = set(re.findall(r"'([a-z0-9-]+)'", text))
    branches = {p.stem for p in (ROOT / "function_app" / "branches").glob("*.py") if p.stem != "__init__"}
    assert set(filter(None, routing.ROUTES.values())) <= branches
    expected = {queues.TURNS_INCOMING, queues.TURNS_OUTGOING, "training-requests"}
    expected |= {queues.queue_for(b) for b in branches}
    assert expected <= declared, f"missing queues: {sorted(expected - declared)}"


def test_cosmos_containers_match_the_code():
    from switchboard.cosmos import COUNTERS, PARTITION_KEYS

    text, _ = Bicep(MAIN).var_block("cosmosContainers")
    declared = dict(re.findall(r"name:\s*'([^']+)',\s*partitionKey:\s*'([^']+)'", text))
    assert declared == PARTITION_KEYS
    assert re.search(rf"name:\s*'{COUNTERS}'[^}}]*defaultTtl:\s*-1", text), "ratelimits needs TTL on"


def function_app_settings() -> dict[str, str]:
    module = Bicep(INFRA / "modules" / "functions.bicep")
    settings = {}
    for var in ("appSettings", "telemetrySettings"):
        text, code = module.var_block(var)
        for line_text, line_code in zip(text.splitlines(), code.splitlines()):
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$", line_code)
            if m and not line_text.strip().startswith(("}", "{")):
                settings[m.group(1)] = line_text.split(":", 1)[1].strip()
    return settings


def needed(env_names_table: dict, required: set[str]) -> set[str]:
    """The settings an app's own table requires (fields it no longer has are skipped), minus COSMOS_KEY
    (Entra ID replaces it) and with the identity convention standing for a storage connection string."""
    names = {env_names_table[f] for f in required if f in env_names_table} - {"COSMOS_KEY"}
    return (names - {"AzureWebJobsStorage", "AZURE_STORAGE_CONNECTION_STRING"}) | IDENTITY_STORAGE


def test_function_app_settings_cover_its_validation():
    settings = function_app_settings()
    required = {f for f in function_settings.ENV_NAMES if f not in function_settings.OPTIONAL}
    required |= {"webchat_token_secret", "appinsights_connection"}  # required on Azure
    missing = needed(function_settings.ENV_NAMES, required) - set(settings)
    assert not missing, f"function app settings miss {sorted(missing)}"
    assert "COSMOS_KEY" not in settings
    assert settings["PYTHON_ENABLE_OPENTELEMETRY"] == "'true'"
    for forbidden in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_PROCESS_COUNT"):
        assert forbidden not in settings, f"Flex Consumption rejects {forbidden}"
    for name in SECRET_SETTINGS & set(settings):
        assert settings[name].startswith("'@Microsoft.KeyVault(SecretUri=${secretUris."), name


def test_flex_consumption_config():
    text = (INFRA / "modules" / "functions.bicep").read_text()
    assert "tier: 'FlexConsumption'" in text and "name: 'FC1'" in text
    assert re.search(r"runtime:\s*\{\s*name:\s*'python'\s*version:\s*'3.11'", text)
    assert "type: 'UserAssignedIdentity'" in text and "alwaysReady: alwaysReady" in text
    assert "keyVaultReferenceIdentity: identityId" in text


def container_env(var: str) -> dict[str, str]:
    main = Bicep(MAIN)
    start = main.text.index(f"var {var} =")
    end = re.compile(r"^(module|var|output|//) ", re.M).search(main.text, start + 1).start()
    names = env_names(main.text[start:end])
    func_text = main.text[main.text.index("func identityEnv"):]
    func_text, _ = block_after(func_text, code_only(func_text), 0)
    assert "identityEnv(identities.outputs." in main.text[main.text.index(f"var {var}"):][:200]
    return env_names(func_text) | names


def test_admin_env_covers_its_validation():
    env = container_env("adminEnv")
    required = set(admin_config.REQUIRED) | {"base_url", "cosmos_endpoint", "cosmos_database", "storage_connection",
                                               "functions_url", "agent_api_token", "qna_endpoint", "qna_api_key",
                                               "qna_project", "trusted_proxies", "nlu_registry", "training_store"}
    missing = needed(admin_config.ENV_NAMES, required) - set(env)
    assert not missing, f"admin env misses {sorted(missing)}"
    assert "COSMOS_KEY" not in env


def test_worker_env_covers_azureml_and_the_worker():
    env = container_env("workerEnv")
    missing = (set(AzureMLSettings.REQUIRED) | {"TRAINING_BACKEND", "NLU_REGISTRY", "TRAINING_STORE",
                                                "ADMIN_BASE_URL", "NOTIFY_WEBHOOK_URL"} | IDENTITY_STORAGE) - set(env)
    assert not missing, f"worker env misses {sorted(missing)}"


def test_nlu_env():
    env = container_env("nluEnv")
    assert {"NLU_REGISTRY"} | IDENTITY_STORAGE <= set(env)


@pytest.mark.parametrize("var", ["nluEnv", "adminEnv", "workerEnv"])
def test_container_secrets_come_from_key_vault(var):
    env = container_env(var)
    for name, rest in env.items():
        if name in SECRET_SETTINGS:
            assert rest.startswith("secretRef:"), f"{var}: {name} must be a Key Vault secret reference"
    main = Bicep(MAIN)
    for symbol, (_, _, params) in main.modules().items():
        if symbol in ("nlu", "admin", "worker"):
            for secret in re.findall(r"\{\s*name:\s*'[^']+',\s*([^}]*)\}", params.split("secrets:", 1)[1]):
                if "keyVaultUrl" not in secret and secret.strip():
                    assert "secretRef" in secret or "value:" not in secret, f"{symbol}: a secret literal"


def test_secure_params_only_reach_key_vault():
    main = Bicep(MAIN)
    secure = [p for p in main.params if re.search(r"@secure\(\)", main.decorators[p])]
    assert len(secure) >= 7
    modules = main.modules()
    _, _, vault_params = modules["keyVault"]
    for name in secure:
        assert re.search(rf"'[a-z-]+':\s*{name}\b", vault_params), f"{name} is not written to Key Vault"
        for symbol, (_, _, params) in modules.items():
            if symbol != "keyVault":
                code = re.sub(rf"empty\({name}\)", "", code_only(params))  # only whether it is set
                assert not re.search(rf"(?<![\w.]){name}\b", code), f"{name} reaches module {symbol}"


def test_probes():
    _, _, nlu = Bicep(MAIN).modules()["nlu"]
    assert re.search(r"type: 'Readiness'\s*httpGet: \{\s*path: '/readyz'", nlu)
    assert re.search(r"type: 'Liveness'\s*httpGet: \{\s*path: '/healthz'", nlu)
    assert "targetPort: 8080" in nlu
    _, _, admin = Bicep(MAIN).modules()["admin"]
    assert re.search(r"type: 'Liveness'\s*httpGet: \{\s*path: '/healthz'", admin)
    assert "targetPort: 7104" in admin
    _, _, worker = Bicep(MAIN).modules()["worker"]
    assert "targetPort: 0" in worker and "'worker'" in worker


# ---- azure.yaml -------------------------------------------------------------------------------------

def test_azure_yaml_services_exist_and_match_tags():
    spec = yaml.safe_load((INFRA / "azure.yaml").read_text())
    assert spec["infra"]["path"] == "." and spec["infra"]["module"] == "main"
    tagged = set(re.findall(r"serviceName: '(\w+)'", MAIN.read_text()))
    tagged |= set(re.findall(r"'azd-service-name': '(\w+)'", (INFRA / "modules" / "functions.bicep").read_text()))
    assert set(spec["services"]) == tagged
    for name, service in spec["services"].items():
        project = (INFRA / service["project"]).resolve()
        assert project.is_dir(), f"{name}: {service['project']} does not exist"
        if service["host"] == "containerapp":
            assert (project / service["docker"]["path"]).is_file()
            assert (project / service["docker"]["context"]).resolve() == ROOT
        else:
            assert service["host"] == "function" and (project / "host.json").is_file()


# ---- the workbook -------------------------------------------------------------------------------------

SPAN_NAMES = {"understand", "deliver", "sendbird_webhook", "webchat_messages"}
SPAN_PREFIXES = {"intent_"}
ATTRIBUTES = {"switchboard.turn_id", "switchboard.conversation_id", "switchboard.channel", "switchboard.step",
              "switchboard.intent", "switchboard.out_of_scope", "switchboard.branch", "switchboard.end_to_end_ms",
              "switchboard.failed"}


def workbook_queries() -> list[str]:
    workbook = json.loads((INFRA / "workbook.json").read_text())
    assert workbook["version"] == "Notebook/1.0"
    return [item["content"]["query"] for item in workbook["items"] if item["type"] == 3]


def test_workbook_deployed_from_the_template():
    assert "loadTextContent('../workbook.json')" in (INFRA / "modules" / "monitoring.bicep").read_text()


def test_workbook_queries_use_only_known_spans_and_attributes():
    queries = workbook_queries()
    assert len(queries) >= 5
    for query in queries:
        assert re.match(r"(let \w+ = )?requests\b", query.strip()), query
        for attribute in re.findall(r"customDimensions\[\"([^\"]+)\"\]", query):
            assert attribute in ATTRIBUTES, attribute
        assert not re.search(r"customDimensions\.", query), "use customDimensions[\"...\"]"
        names = re.findall(r"name == \"([^\"]+)\"", query)
        for group in re.findall(r"name in \(([^)]*)\)", query):
            names += re.findall(r"\"([^\"]+)\"", group)
        assert all(n in SPAN_NAMES for n in names), names
        prefixes = re.findall(r"name startswith \"([^\"]+)\"", query)
        assert all(p in SPAN_PREFIXES for p in prefixes), prefixes
    text = "\n".join(queries)
    for needed_piece in ("switchboard.channel", "switchboard.out_of_scope", "\"human_handoff\"", "\"fallback\"",
                         "switchboard.failed", "switchboard.end_to_end_ms", "switchboard.intent",
                         "percentile(duration, 99)"):
        assert needed_piece in text, needed_piece


def test_azd_up_leaves_the_container_apps_on_their_real_port_probes_and_command():
    """The first provision runs on a placeholder image (port 80, no probes, no command) and `azd deploy`
    swaps only the image: `azd up` must provision again afterwards."""
    project = yaml.safe_load((INFRA / "azure.yaml").read_text())
    assert "azd provision" in project["hooks"]["postup"]["run"]
    app = (INFRA / "modules" / "containerapp.bicep").read_text()
    assert re.search(r"placeholder \? \[\] : probes", app) and re.search(r"placeholder \? \[\] : args", app)


def test_azd_passes_who_deploys_and_as_what():
    """A service principal (CI) deploying as 'User' is refused (UnmatchedPrincipalType)."""
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE}"


def test_the_workbook_is_bound_to_its_application_insights():
    monitoring = (INFRA / "modules" / "monitoring.bicep").read_text()
    workbook = json.loads((INFRA / "workbook.json").read_text())
    assert workbook["fallbackResourceIds"] == ["Azure Monitor"]
    assert "replace(loadTextContent('../workbook.json'), '\"Azure Monitor\"', '\"${appInsights.id}\"')" in monitoring
