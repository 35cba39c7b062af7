"""Who may do what: every role assignment the templates make, as (principal, role, scope), must equal
the model written out below. Azure RBAC in modules/roles.bicep (account, container, queue, registry and
telemetry grants), modules/keyvault.bicep (one reader per secret, from main.bicep's secretReaders; the
deployer), modules/ml.bicep, and Cosmos DB's data-plane sqlRoleAssignments (principals from main.bicep).
A missing, extra or widened role fails, naming it. docs/deploying.md ("Identities and roles") says why
each is there; the naming, principalType and scope-existence rules are infracheck.check_role_assignments."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import infracheck
import pytest

ROOT = Path(__file__).resolve().parents[2]

# The queues the functions consume (main.bicep triggeredQueues; infracheck.check_queues ties them to
# function_app/branches and core/queues.py).
TRIGGERED = ["turns-incoming", "turns-outgoing", "intent-greeting", "intent-goodbye", "intent-order-status",
             "intent-product-search", "intent-faq", "intent-human-handoff", "intent-fallback"]
BLOB_OWNER, BLOB_CONTRIBUTOR, BLOB_READER = ("Storage Blob Data Owner", "Storage Blob Data Contributor",
                                             "Storage Blob Data Reader")
QUEUE_CONTRIBUTOR, QUEUE_READER, QUEUE_SENDER = ("Storage Queue Data Contributor", "Storage Queue Data Reader",
                                                 "Storage Queue Data Message Sender")
SECRETS_USER, METRICS, ACR_PULL = "Key Vault Secrets User", "Monitoring Metrics Publisher", "AcrPull"
COSMOS = "Cosmos DB Built-in Data Contributor"
ALWAYS, CONDITIONAL = False, True

EXPECTED: set[tuple[str, str, str, bool]] = {
    ("functions", BLOB_OWNER, "storage", ALWAYS),
    ("functions", QUEUE_CONTRIBUTOR, "storage", ALWAYS),
    ("functions", COSMOS, "cosmos", ALWAYS),
    *{("functions", SECRETS_USER, f"secret:{s}", ALWAYS) for s in (
        "sendbird-api-token", "shop-api-key", "qna-api-key", "webchat-token-secret", "agent-api-token",
        "nlu-api-key")},
    ("functions", METRICS, "appinsights", ALWAYS),

    ("nlu", BLOB_READER, "container:models", ALWAYS),
    ("nlu", ACR_PULL, "registry", ALWAYS),
    ("nlu", SECRETS_USER, "secret:nlu-api-keys", ALWAYS),
    ("nlu", METRICS, "appinsights", ALWAYS),

    ("admin", QUEUE_READER, "storage", ALWAYS),
    ("admin", BLOB_CONTRIBUTOR, "container:models", ALWAYS),
    ("admin", BLOB_CONTRIBUTOR, "container:training", ALWAYS),
    ("admin", QUEUE_CONTRIBUTOR, "queue:training-requests", ALWAYS),
    *{("admin", QUEUE_CONTRIBUTOR, f"queue:{q}-poison", ALWAYS) for q in TRIGGERED},
    *{("admin", QUEUE_SENDER, f"queue:{q}", ALWAYS) for q in TRIGGERED},
    ("admin", COSMOS, "cosmos", ALWAYS),
    *{("admin", SECRETS_USER, f"secret:{s}", ALWAYS) for s in ("admin-secret-key", "agent-api-token", "qna-api-key")},
    ("admin", ACR_PULL, "registry", ALWAYS),
    ("admin", METRICS, "appinsights", ALWAYS),

    ("worker", BLOB_CONTRIBUTOR, "container:models", ALWAYS),
    ("worker", BLOB_CONTRIBUTOR, "container:training", ALWAYS),
    ("worker", QUEUE_CONTRIBUTOR, "queue:training-requests", ALWAYS),
    ("worker", SECRETS_USER, "secret:notify-webhook-url", CONDITIONAL),  # when notifyWebhookInVault
    ("worker", ACR_PULL, "registry", ALWAYS),
    ("worker", METRICS, "appinsights", ALWAYS),
    ("worker", "AzureML Data Scientist", "ml-workspace", ALWAYS),
    ("worker", BLOB_CONTRIBUTOR, "ml-storage", ALWAYS),

    ("cluster", BLOB_READER, "container:training", ALWAYS),
    ("deployer", "Key Vault Secrets Officer", "vault", CONDITIONAL),  # when principalId is given
}


def show(entry: tuple[str, str, str, bool]) -> str:
    principal, role, scope, conditional = entry
    return f"{principal}: {role}@{scope}" + (" (conditional)" if conditional else "")


def check_role_model(t: infracheck.Templates) -> list[str]:
    """The templates' role assignments equal EXPECTED, none made twice."""
    found = [(a.principal, a.role, a.scope, a.conditional) for a in infracheck.role_assignments(t)]
    problems = [f"missing role assignment: {show(e)}" for e in sorted(EXPECTED - set(found))]
    problems += [f"role assignment not in the model (extra or widened): {show(e)}"
                 for e in sorted(set(found) - EXPECTED)]
    problems += [f"role assignment made {n} times: {show(e)}" for e, n in Counter(found).items() if n > 1]
    return problems


@pytest.fixture(scope="module")
def templates() -> infracheck.Templates:
    return infracheck.load(ROOT)


def test_role_assignments_equal_the_model(templates):
    problems = infracheck.run(check_role_model, templates)
    assert problems == [], "\n".join(problems)


def test_the_model_names_only_known_roles_and_principals():
    roles = set(infracheck.BUILT_IN_ROLES) | set(infracheck.COSMOS_ROLES)
    assert {role for _, role, _, _ in EXPECTED} <= roles
    assert {p for p, _, _, _ in EXPECTED} == {"functions", "nlu", "admin", "worker", "cluster", "deployer"}


def test_no_identity_holds_a_role_on_the_resource_group(templates):
    scopes = {a.scope for a in infracheck.role_assignments(templates)}
    assert not scopes & {"resourceGroup", "subscription"}
