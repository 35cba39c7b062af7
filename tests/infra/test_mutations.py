"""Do the checks catch real mistakes? Each mutation copies infra/ into a temporary repository root
(the app folders the checks read are linked), makes ONE small textual edit (which must apply), runs
every check (infracheck.CHECKS and the role model of test_roles.py) and records which reported a
problem. A table of mistake -> catching checks is printed; each mistake has its own test, so a check
that stops catching one names it."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import infracheck
import pytest
from test_roles import check_role_model

ROOT = Path(__file__).resolve().parents[2]
LINKED = ("function_app", "admin_site", "inference_container", "training_jobs", "docs")
ALL_CHECKS = [*infracheck.CHECKS, check_role_model]


@dataclass(frozen=True)
class Mutation:
    id: str
    mistake: str
    file: str  # relative to infra/
    old: str
    new: str


MUTATIONS = [
    Mutation("role-scope-resource-group", "a role scope moved to the resource group", "modules/roles.bicep",
             "  scope: storage\n", "  scope: resourceGroup()\n"),
    Mutation("admin-loses-secret", "the admin site loses Key Vault Secrets User on admin-secret-key", "main.bicep",
             "  { secret: 'admin-secret-key', principalId: identities.outputs.adminPrincipalId }\n", ""),
    Mutation("nlu-loses-acrpull", "the NLU service loses AcrPull", "modules/roles.bicep",
             "var imagePullers = [\n  nluPrincipalId\n", "var imagePullers = [\n"),
    Mutation("shared-keys-on", "Storage shared keys switched back on", "modules/storage.bicep",
             "allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
    Mutation("cosmos-local-auth", "Cosmos DB local (key) auth switched back on", "modules/cosmos.bicep",
             "disableLocalAuth: true", "disableLocalAuth: false"),
    Mutation("cosmos-arm-role", "a Cosmos DB assignment pointing at an Azure RBAC role", "modules/cosmos.bicep",
             "    roleDefinitionId: dataContributor.id\n",
             "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
             "'00000000-0000-0000-0000-000000000002')\n"),
    Mutation("property-typo", "a property typo (supportHttpsTrafficOnly)", "modules/storage.bicep",
             "supportsHttpsTrafficOnly: true", "supportHttpsTrafficOnly: true"),
    Mutation("api-version", "an API version 2099-01-01", "modules/storage.bicep",
             "'Microsoft.Storage/storageAccounts@2023-05-01' = {",
             "'Microsoft.Storage/storageAccounts@2099-01-01' = {"),
    Mutation("unbalanced-brace", "an unbalanced brace (one `}` deleted)", "modules/keyvault.bicep",
             "      name: 'standard'\n    }\n", "      name: 'standard'\n"),
    Mutation("container-deleted", "the training container deleted, still named by roles", "main.bicep",
             "      'models'\n      'training'\n", "      'models'\n"),
    Mutation("secret-ref-renamed", "a secretRef renamed on one side only (admin.bicep)", "admin.bicep",
             "secretRef: 'agent-api-token'", "secretRef: 'agent-token'"),
    Mutation("flex-memory-1024", "an invalid Flex Consumption memory size (1024)", "main.bicep",
             "  2048\n  4096\n])\nparam functionInstanceMemoryMB int = 2048",
             "  1024\n  4096\n])\nparam functionInstanceMemoryMB int = 1024"),
    Mutation("widened-role", "a widened role (NLU blob reader -> contributor)", "modules/roles.bicep",
             "{ principalId: nluPrincipalId, role: roleIds.storageBlobDataReader, container: 'models' }",
             "{ principalId: nluPrincipalId, role: roleIds.storageBlobDataContributor, container: 'models' }"),
    Mutation("extra-role", "an extra grant line (the worker as Blob Data Owner of the account)",
             "modules/roles.bicep",
             "  { principalId: adminPrincipalId, role: roleIds.storageQueueDataReader }\n",
             "  { principalId: adminPrincipalId, role: roleIds.storageQueueDataReader }\n"
             "  { principalId: workerPrincipalId, role: roleIds.storageBlobDataOwner }\n"),
    Mutation("module-param-omitted", "a required module param omitted (ml's clusterName)", "main.bicep",
             "    clusterName: clusterName\n", ""),
    Mutation("module-param-undeclared", "a param passed that the module does not declare", "main.bicep",
             "    name: 'cr${token}'\n", "    name: 'cr${token}'\n    sku: 'Basic'\n"),
    Mutation("role-guid-typo", "a role GUID typo (AcrPull)", "modules/roles.bicep",
             "acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'", "acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538e'"),
    Mutation("branch-queue-removed", "a branch's queue removed (intent-faq)", "main.bicep", "  'intent-faq'\n", ""),
    Mutation("partition-key-changed", "a Cosmos DB partition key changed (audit)", "main.bicep",
             "{ name: 'audit', partitionKey: '/day' }", "{ name: 'audit', partitionKey: '/id' }"),
    Mutation("secret-as-plain-setting", "a secret as a plain app setting (the URI, not a Key Vault reference)",
             "modules/functions.bicep",
             "SHOP_API_KEY: '@Microsoft.KeyVault(SecretUri=${secretUris.shopApiKey})'",
             "SHOP_API_KEY: secretUris.shopApiKey"),
    Mutation("aml-ssh-open", "Azure ML SSH opened", "modules/ml.bicep",
             "remoteLoginPortPublicAccess: 'Disabled'", "remoteLoginPortPublicAccess: 'Enabled'"),
    Mutation("admin-liveness-healthz", "the admin liveness probe back on /healthz", "admin.bicep",
             "path: '/livez'", "path: '/healthz'"),
    Mutation("purge-protection-off", "Key Vault purge protection off", "modules/keyvault.bicep",
             "enablePurgeProtection: true", "enablePurgeProtection: false"),
]
MIN_CAUGHT = 20
# Beyond the 23: mistakes the other checks exist for.
MORE = [
    Mutation("service-reads-missing-output", "a service parameters file reading an output main.bicep lacks",
             "admin.parameters.json", "${ADMIN_APP_NAME}", "${ADMIN_APP}"),
    Mutation("audit-log-off", "Key Vault's AuditEvent diagnostics off", "modules/keyvault.bicep",
             "{ category: 'AuditEvent', enabled: true }", "{ category: 'AuditEvent', enabled: false }"),
    Mutation("secret-not-from-hook", "a secret parameter not read from the hook's variable", "main.parameters.json",
             "${SWITCHBOARD_SECRET_SHOP_API_KEY=}", "${SHOP_API_KEY}"),
    Mutation("admin-env-incomplete", "the admin site's env missing COSMOS_DATABASE", "admin.bicep",
             "      { name: 'COSMOS_DATABASE', value: cosmosDatabase }\n", ""),
    Mutation("nlu-anonymous", "the NLU service without its keys (anonymous parses)", "nlu.bicep",
             "      { name: 'NLU_API_KEYS', secretRef: 'nlu-api-keys' }\n", ""),
    Mutation("function-app-no-nlu-key", "the function app without NLU_API_KEY", "modules/functions.bicep",
             "  NLU_API_KEY: '@Microsoft.KeyVault(SecretUri=${secretUris.nluApiKey})'\n", ""),
    Mutation("insecure-ingress", "container app ingress allowing HTTP", "modules/containerapp.bicep",
             "allowInsecure: false", "allowInsecure: true"),
    Mutation("principal-type-no-default", "azd's principalType without its default", "main.parameters.json",
             "${AZURE_PRINCIPAL_TYPE=User}", "${AZURE_PRINCIPAL_TYPE}"),
    Mutation("postup-hook", "the postup provision hook back", "azure.yaml",
             "hooks:\n  preprovision:", "hooks:\n  postup:\n    run: azd provision\n  preprovision:"),
    Mutation("unused-param", "a declared param nothing uses", "nlu.bicep",
             "param keyVaultUri string\n", "param keyVaultUri string\nparam forgotten string = ''\n"),
    Mutation("secure-param-leaks", "a secret passed to the function app module", "main.bicep",
             "    webchatTrustedProxies: webchatTrustedProxies\n", "    webchatTrustedProxies: shopApiKey\n"),
    Mutation("placeholder-image", "the placeholder image back", "nlu.bicep",
             "    image: image\n", "    image: 'mcr.microsoft.com/k8se/quickstart:latest'\n"),
]


def mutated_root(base: Path, mutation: Mutation) -> Path:
    root = base / mutation.id
    shutil.copytree(ROOT / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__", ".azure"))
    for name in LINKED:
        (root / name).symlink_to(ROOT / name, target_is_directory=True)
    path = root / "infra" / mutation.file
    text = path.read_text()
    edited = text.replace(mutation.old, mutation.new, 1)
    assert edited != text, f"{mutation.id}: the edit does not apply to infra/{mutation.file}"
    path.write_text(edited)
    return root


def caught_by(root: Path) -> dict[str, list[str]]:
    """check name -> its problems, for the checks that reported any."""
    t = infracheck.load(root)
    found = {check.__name__: infracheck.run(check, t) for check in ALL_CHECKS}
    return {name: problems for name, problems in found.items() if problems}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict[str, list[str]]]:
    base = tmp_path_factory.mktemp("mutations")
    return {m.id: caught_by(mutated_root(base, m)) for m in MUTATIONS + MORE}


def test_the_unmutated_copy_is_clean(tmp_path):
    """The copy itself (links and all) passes every check: what a mutation reports is its mistake."""
    root = tmp_path / "clean"
    shutil.copytree(ROOT / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__", ".azure"))
    for name in LINKED:
        (root / name).symlink_to(ROOT / name, target_is_directory=True)
    assert caught_by(root) == {}


def test_mutations_table(results, capsys):
    caught = [m for m in MUTATIONS if results[m.id]]
    with capsys.disabled():
        print(f"\n{'mistake':<75} caught by")
        for i, m in enumerate(MUTATIONS, 1):
            print(f"{i:>2} {m.mistake:<72} {', '.join(results[m.id]) or 'NOT CAUGHT'}")
        print(f"caught {len(caught)} of {len(MUTATIONS)}")
    assert len(MUTATIONS) == 23
    assert len(caught) >= MIN_CAUGHT, f"only {len(caught)} of {len(MUTATIONS)} mistakes caught"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mistake_is_caught(results, mutation):
    assert results[mutation.id], f"not caught: {mutation.mistake} ({mutation.file})"


@pytest.mark.parametrize("mutation", MORE, ids=lambda m: m.id)
def test_more_mistakes_are_caught(results, mutation):
    assert results[mutation.id], f"not caught: {mutation.mistake} ({mutation.file})"
