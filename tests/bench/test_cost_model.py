"""The cost benchmark's arithmetic, against docs/cost.md ("How it is counted", "Unit prices", "The monthly
bill"): the request units estimated from document sizes (bench/cost.py `ru_for`, `estimated_ru`), Flex
Consumption's GB-s (`billable_seconds`, `per_turn`), and the monthly bill (bench/cost_model.py `monthly`,
bench/cost.py `priced`). Every expected figure is worked out by hand in the test; nothing runs a server."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from bench import cost
from bench.cost_model import MONTH_S, PRICES, monthly, price
from bench.counting_proxy import Record

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "cost.md"


def result(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


# ---- request units ----------------------------------------------------------------------------------------
def test_ru_table_holds_the_documented_rows():
    """docs/cost.md: 1 KB 1.00 / 4.95, 2 KB 1.04 / 6.29, 4 KB 1.14 / 6.67, 8 KB 1.33 / 7.04, 16 KB 1.67 / 9.52,
    32 KB 2.19 / 11.23 (point read / write)."""
    assert cost.RU_TABLE[:6] == [(1, 1.00, 4.95), (2, 1.04, 6.29), (4, 1.14, 6.67), (8, 1.33, 7.04),
                                 (16, 1.67, 9.52), (32, 2.19, 11.23)]
    assert cost.QUERY_BASE_RU == 2.5


@pytest.mark.parametrize(("kb", "read", "write"), [
    (0.0, 1.00, 4.95),  # below the first row: the first row
    (0.2, 1.00, 4.95),
    (1.0, 1.00, 4.95),
    (2.0, 1.04, 6.29),  # on a row: the row
    (4.0, 1.14, 6.67),
    (8.0, 1.33, 7.04),
    (16.0, 1.67, 9.52),
    (32.0, 2.19, 11.23),
    (1.5, 1.02, 5.62),  # 4.95 + (6.29 - 4.95) * 0.5;  1.00 + 0.04 * 0.5
    (1.25, 1.01, 5.285),  # 4.95 + 1.34 * 0.25
    (3.0, 1.09, 6.48),  # 6.29 + (6.67 - 6.29) * 0.5
    (6.0, 1.235, 6.855),  # 6.67 + (7.04 - 6.67) * 0.5
    (12.0, 1.50, 8.28),  # 7.04 + (9.52 - 7.04) * 0.5
    (24.0, 1.93, 10.375),  # 9.52 + (11.23 - 9.52) * 0.5
])
def test_ru_for_reads_the_table_and_interpolates_between_rows(kb, read, write):
    assert cost.ru_for(kb, 1) == pytest.approx(read)
    assert cost.ru_for(kb, 2) == pytest.approx(write)


def test_ru_for_is_linear_within_a_row_pair():
    points = [cost.ru_for(1 + i / 10, 2) for i in range(11)]
    steps = [b - a for a, b in zip(points, points[1:])]
    assert steps == pytest.approx([0.134] * 10)
    assert points[0] == pytest.approx(4.95) and points[-1] == pytest.approx(6.29)


@pytest.mark.parametrize(("operation", "status", "request_bytes", "response_bytes", "items", "ru"), [
    ("point read", 200, 0, 1024, 0, 1.00),
    ("point read", 200, 0, 3072, 0, 1.09),  # 3 KB: halfway between 1.04 and 1.14
    ("point read", 404, 0, 3072, 0, 1.00),  # a miss counts 1 RU, whatever its body
    ("point read", 404, 0, 100_000, 0, 1.00),
    ("create", 201, 1024, 0, 0, 4.95),  # a 1 KB write
    ("upsert", 200, 212, 400, 0, 4.95),  # the outbox document: under 1 KB
    ("replace", 200, 1536, 0, 0, 5.62),  # 1.5 KB
    ("replace", 200, 1024, 2048, 0, 6.29),  # the larger of the two bodies
    ("upsert", 200, 4096, 1024, 0, 6.67),
    ("patch", 200, 8192, 0, 0, 7.04),
    ("query", 200, 0, 4096, 2, 4.58),  # 2.5 + 2 point reads of 2 KB items (1.04 each)
    ("query", 200, 0, 1024, 1, 3.50),  # 2.5 + 1.00
    ("query", 200, 0, 200, 0, 2.50),  # nothing returned: the base alone
    ("metadata", 200, 0, 5000, 0, 0.0),
])
def test_estimated_ru(operation, status, request_bytes, response_bytes, items, ru):
    assert cost.estimated_ru(operation, status, request_bytes, response_bytes, items) == pytest.approx(ru)


# ---- Flex Consumption GB-s --------------------------------------------------------------------------------
@pytest.mark.parametrize(("ms", "seconds"), [
    (0, 1.0),
    (1, 1.0),
    (389, 1.0),  # docs/cost.md: a turn's executions each alone: at least 1,000 ms
    (999, 1.0),
    (1000, 1.0),
    (1001, 1.1),  # then rounded up to the nearest 100 ms
    (1050, 1.1),
    (1100, 1.1),
    (1100.5, 1.2),
    (1999, 2.0),
    (2000, 2.0),
    (2301, 2.4),
    (12_345, 12.4),
])
def test_billable_seconds_has_a_1_second_minimum_then_100_ms_steps(ms, seconds):
    assert cost.billable_seconds(ms) == pytest.approx(seconds)


def test_an_execution_alone_is_2_gb_s():
    assert cost.INSTANCE_GB == 2.0  # 2,048 MB, infra/main.bicep
    assert cost.billable_seconds(389) * cost.INSTANCE_GB == 2.0
    assert cost.billable_seconds(1050) * cost.INSTANCE_GB == pytest.approx(2.2)


def record(service: str, method: str, url: str, *, ended: float = 0.0, headers: dict | None = None,
           status: int = 200, request_body: bytes = b"", response_body: bytes = b"", request_bytes: int | None = None,
           response_bytes: int | None = None) -> Record:
    parts = urlsplit(url)
    return Record(service, method, unquote(parts.path), parse_qs(parts.query), dict(headers or {}),
                  len(request_body) if request_bytes is None else request_bytes,
                  len(response_body) if response_bytes is None else response_bytes,
                  status, ended - 0.001, ended, request_body, response_body)


def got(queue: str, ended: float, *ids: str) -> Record:
    body = "<QueueMessagesList>" + "".join(
        f"<QueueMessage><MessageId>{i}</MessageId><PopReceipt>p</PopReceipt></QueueMessage>" for i in ids
    ) + "</QueueMessagesList>"
    return record("queue", "GET", f"/devstoreaccount1/{queue}/messages?numofmessages=16", ended=ended,
                  response_body=body.encode())


def deleted(queue: str, ended: float, message_id: str) -> Record:
    return record("queue", "DELETE", f"/devstoreaccount1/{queue}/messages/{message_id}?popreceipt=p", ended=ended)


def test_executions_run_from_the_get_that_carried_the_message_to_its_delete():
    records = [got("turns-incoming", 10.0, "m1"), got("intent-faq", 20.0, "m2"),
               deleted("intent-faq", 21.05, "m2"), deleted("turns-incoming", 10.389, "m1"),
               deleted("turns-incoming", 30.0, "never-received")]
    runs = sorted(cost.executions(records), key=lambda r: r["queue"])
    assert [r["queue"] for r in runs] == ["intent-faq", "turns-incoming"]
    assert [r["ms"] for r in runs] == pytest.approx([1050.0, 389.0])


def test_per_turn_counts_classes_gb_s_and_request_units():
    """One turn, by hand: two queue functions (389 ms and 1,050 ms) and the webhook (250 ms); 2 puts, 2 gets
    with a message, 2 deletes and an empty poll; 4 Cosmos DB operations and a metadata read."""
    turn_doc = json.dumps({"id": "t1", "branch": "faq", "timings": {"understand": 40, "end_to_end": 900}}).encode()
    records = [
        record("queue", "POST", "/devstoreaccount1/turns-incoming/messages", ended=9.0),
        got("turns-incoming", 10.0, "m1"),
        got("turns-outgoing", 10.2),  # an empty poll: no message, no class
        record("queue", "POST", "/devstoreaccount1/intent-faq/messages", ended=10.3),
        deleted("turns-incoming", 10.389, "m1"),
        got("intent-faq", 20.0, "m2"),
        deleted("intent-faq", 21.05, "m2"),
        record("cosmos", "GET", "/dbs/switchboard", ended=1.0),  # metadata: no RU, not an operation
        record("cosmos", "GET", "/dbs/switchboard/colls/conversations/docs/c1", response_bytes=1536, ended=10.1),
        record("cosmos", "PUT", "/dbs/switchboard/colls/conversations/docs/c1", request_bytes=1536,
               response_bytes=1200, ended=10.2),
        record("cosmos", "GET", "/dbs/switchboard/colls/outbox/docs/t1", status=404, response_bytes=300, ended=21),
        record("cosmos", "POST", "/dbs/switchboard/colls/turns/docs", request_body=turn_doc,
               headers={"x-ms-documentdb-is-upsert": "true"}, ended=21.0),
        record("cosmos", "POST", "/dbs/switchboard/colls/catalogue/docs", response_body=json.dumps(
            {"Documents": [{"id": "a"}, {"id": "b"}]}).encode(), response_bytes=4096,
               headers={"x-ms-documentdb-isquery": "true"}, ended=10.05),
        record("nlu", "POST", "/parse", ended=10.1),
    ]
    t = cost.tally(records, ack_ms=[250.0])
    p = cost.per_turn(t, 1)
    assert p["queue"] == {"delete message": 2.0, "get messages": 2.0, "get messages (empty)": 1.0,
                          "put message": 2.0}
    assert p["queue_class_1"] == 4  # 2 puts + 2 deletes
    assert p["queue_class_2"] == 2  # 2 gets with a message; the empty poll is priced apart
    assert p["executions_total"] == 3
    # each alone: 1.0 s (389 ms) + 1.1 s (1,050 ms) + 1.0 s (250 ms) = 3.1 s x 2 GB
    assert p["gb_s_isolated"] == pytest.approx(6.2)
    # busy: (389 + 1,050 + 250) ms x 2 GB
    assert p["gb_s_busy"] == pytest.approx(3.378)
    assert p["cosmos_operations"] == 5
    # 1.02 (1.5 KB read) + 5.62 (1.5 KB replace) + 1.0 (miss) + 4.95 (turn log, < 1 KB) + 2.5 + 2 x 1.04 (query)
    assert p["estimated_ru"] == pytest.approx(17.17)
    assert p["documents_bytes"]["conversations"] == {"writes": 1, "mean": 1536, "max": 1536}
    assert p["branches"] == {"faq": 1}
    assert p["calls"] == {"nlu": 1.0}


def test_per_turn_gb_s_averages_over_the_turns():
    t = cost.tally([], ack_ms=[389.0, 1050.0])
    p = cost.per_turn(t, 2)
    assert p["gb_s_isolated"] == pytest.approx((1.0 + 1.1) * 2 / 2)
    assert p["gb_s_busy"] == pytest.approx((0.389 + 1.050) * 2 / 2)


# ---- unit prices ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "usd"), [
    ("functions_gb_s", 0.000026),
    ("functions_executions", 0.40e-6),
    ("functions_free_gb_s", 100_000),
    ("functions_free_executions", 250_000),
    ("queue_class_1", 0.004 / 10_000),
    ("queue_class_2", 0.004 / 10_000),
    ("cosmos_ru", 0.25e-6),
    ("cosmos_gb_month", 0.25),
    ("log_gb", 2.99),
    ("log_free_gb", 5),
    ("aca_vcpu_s_active", 0.000034),
    ("aca_vcpu_s_idle", 0.000004),
    ("aca_gib_s", 0.000004),
    ("aca_requests", 0.56e-6),
    ("aca_free_vcpu_s", 180_000),
    ("aca_free_gib_s", 360_000),
    ("aca_free_requests", 2_000_000),
    ("acr_basic_month", 5.00),
])
def test_unit_prices_are_the_documented_ones(name, usd):
    assert price(name) == pytest.approx(usd, rel=1e-12)
    assert PRICES[name]["source"]


def test_a_month_is_30_days():
    assert MONTH_S == 2_592_000


# ---- the monthly bill, line by line, on a made-up turn ----------------------------------------------------
TURN = {"executions_total": 4, "gb_s_isolated": 8.0, "gb_s_busy": 0.5, "queue_class_1": 6, "queue_class_2": 3,
        "estimated_ru": 20.0, "calls": {"nlu": 1},
        "documents_bytes": {"turns": {"mean": 1000}, "outbox": {"mean": 200}, "conversations": {"mean": 50_000}}}


def bill(turns: int, app_insights_bytes: float = 0.0, **changes) -> dict[str, float]:
    return monthly({**TURN, **changes}, turns, app_insights_bytes)


def test_gb_s_each_execution_alone_below_one_turn_a_second():
    # 2,591,999 turns: under 1 a second -> 8 GB-s a turn; (20,735,992 - 100,000 free) x $0.000026
    assert bill(2_591_999)["functions GB-s"] == 536.54


def test_gb_s_busy_instances_from_one_turn_a_second():
    # 2,592,000 turns: 1 a second -> 0.5 GB-s a turn; (1,296,000 - 100,000) x $0.000026 = 31.096
    assert bill(2_592_000)["functions GB-s"] == 31.1


def test_gb_s_free_grant():
    assert bill(12_500)["functions GB-s"] == 0.0  # 100,000 GB-s: all free
    assert bill(50_000)["functions GB-s"] == 7.8  # (400,000 - 100,000) x 0.000026


def test_executions_free_grant_and_price():
    assert bill(62_500)["functions executions"] == 0.0  # 250,000: all free
    assert bill(1_000_000)["functions executions"] == 1.5  # (4,000,000 - 250,000) x $0.40 / million


def test_queue_operations_of_the_turns():
    assert bill(1_000_000)["queue operations (turns)"] == 3.6  # 9 ops x 1 M x $0.004 / 10,000
    assert bill(1_000_000, queue_class_1=10, queue_class_2=0)["queue operations (turns)"] == 4.0


def test_queue_polling_while_instances_are_up():
    # 9 queues x 10 polls a second x (a minute a turn, at most the month) x $0.004 / 10,000
    assert bill(10_000)["queue polling (idle queues)"] == 21.6  # 600,000 s
    assert bill(21_600)["queue polling (idle queues)"] == 46.66  # 1,296,000 s: 116,640,000 polls
    assert bill(43_200)["queue polling (idle queues)"] == 93.31  # the whole month from 43,200 turns
    assert bill(100_000_000)["queue polling (idle queues)"] == 93.31


def test_cosmos_request_units_and_storage():
    assert bill(1_000_000)["cosmos request units"] == 5.0  # 20 RU x 1 M x $0.25 / million
    # the turn log and the outbox only (not conversations): 1,200 bytes x 1 M = 1.2 GB x $0.25
    assert bill(1_000_000)["cosmos storage (a month's turn log and outbox)"] == 0.3


def test_app_insights_ingestion_after_the_free_5_gb():
    assert bill(1_000_000, app_insights_bytes=5_000)["app insights ingestion"] == 0.0  # 5 GB: free
    assert bill(1_000_000, app_insights_bytes=10_000)["app insights ingestion"] == 14.95  # 5 GB x $2.99


def test_container_apps_idle_below_one_turn_every_10_s():
    # 2.5 vCPU idle x 2,592,000 s - 180,000 free = 6,300,000 x 0.000004 = 25.20
    # 5 GiB x 2,592,000 s - 360,000 free = 12,600,000 x 0.000004 = 50.40
    assert bill(259_199)["container apps (nlu, admin, worker; min replicas)"] == 75.6


def test_container_apps_nlu_active_from_one_turn_every_10_s_free_grant_on_active_first():
    # NLU 1 vCPU active: (2,592,000 - 180,000) x 0.000034 = 82.008; 1.5 vCPU idle: 3,888,000 x 0.000004 = 15.552;
    # memory 50.40. (The grant taken off the idle vCPU instead would give 153.36.)
    assert bill(259_200)["container apps (nlu, admin, worker; min replicas)"] == 147.96


def test_container_apps_requests_after_2_million_free():
    assert bill(2_000_000)["container apps requests (nlu)"] == 0.0
    assert bill(3_000_000)["container apps requests (nlu)"] == 0.56


def test_total_is_the_sum_of_the_rounded_lines():
    lines = bill(1_000_000, app_insights_bytes=10_000)
    assert lines["container registry (basic)"] == 5.0
    assert lines["total"] == round(sum(v for k, v in lines.items() if k != "total"), 2)
    # 1.5 + 205.4 + 3.6 + 93.31 + 5.0 + 0.3 + 14.95 + 147.96 + 0 + 5.0
    assert lines["total"] == 477.02


# ---- the monthly bill of bench/results/cost.json, as docs/cost.md prints it ------------------------------
DOC_LINES = {  # docs/cost.md's row -> bench/cost_model.py's line
    "Functions executions": "functions executions",
    "Functions GB-s": "functions GB-s",
    "queue operations of the turns": "queue operations (turns)",
    "queue polling of idle queues": "queue polling (idle queues)",
    "Cosmos DB request units": "cosmos request units",
    "Cosmos DB storage added in the month (turn log, outbox)": "cosmos storage (a month's turn log and outbox)",
    "Application Insights ingestion": "app insights ingestion",
    "Container Apps: NLU, admin site, training worker (min replicas)":
        "container apps (nlu, admin, worker; min replicas)",
    "Container Apps requests (NLU)": "container apps requests (nlu)",
    "Container Registry (Basic)": "container registry (basic)",
    "**total**": "total",
}
COLUMNS = {"10,000": 10_000, "1,000,000": 1_000_000, "100,000,000": 100_000_000}

# By hand from cost.json's overall (4 executions, 8.0 / 0.869 GB-s, 6 + 3 queue ops, 28.86 RU, 909 + 212
# document bytes, 1 NLU call) and 21,559 Application Insights bytes a turn
# (14,879 measured + 6,680 modelled host lines).
EXPECTED = {
    "10,000": {"functions executions": 0.0, "functions GB-s": 0.0, "queue operations (turns)": 0.04,
               "queue polling (idle queues)": 21.6, "cosmos request units": 0.07,
               "cosmos storage (a month's turn log and outbox)": 0.0, "app insights ingestion": 0.0,
               "container apps (nlu, admin, worker; min replicas)": 75.6, "container apps requests (nlu)": 0.0,
               "container registry (basic)": 5.0, "total": 102.31},
    "1,000,000": {"functions executions": 1.5, "functions GB-s": 205.4, "queue operations (turns)": 3.6,
                  "queue polling (idle queues)": 93.31, "cosmos request units": 7.21,
                  "cosmos storage (a month's turn log and outbox)": 0.28, "app insights ingestion": 49.51,
                  "container apps (nlu, admin, worker; min replicas)": 147.96, "container apps requests (nlu)": 0.0,
                  "container registry (basic)": 5.0, "total": 513.77},
    "100,000,000": {"functions executions": 159.9, "functions GB-s": 2256.8, "queue operations (turns)": 360.0,
                    "queue polling (idle queues)": 93.31, "cosmos request units": 721.5,
                    "cosmos storage (a month's turn log and outbox)": 28.02, "app insights ingestion": 6431.19,
                    "container apps (nlu, admin, worker; min replicas)": 147.96,
                    "container apps requests (nlu)": 54.88, "container registry (basic)": 5.0, "total": 10258.56},
}


def doc_bill() -> tuple[dict[str, dict[str, float]], list[float]]:
    """docs/cost.md's monthly bill table: {column: {line: dollars}} and its per-thousand-turns row."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| line | 10 thousand turns"))
    table: dict[str, dict[str, float]] = {c: {} for c in COLUMNS}
    per_thousand: list[float] = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        label, *cells = [c.strip() for c in line.strip("|").split("|")]
        values = [float(re.sub(r"[*,]", "", c)) for c in cells]
        if label == "per thousand turns":
            per_thousand = values
        else:
            for column, value in zip(COLUMNS, values):
                table[column][DOC_LINES[label]] = value
    return table, per_thousand


def test_the_recorded_run_is_the_one_the_document_describes():
    overall = result("cost")["overall"]
    assert (overall["executions_total"], overall["gb_s_isolated"], overall["gb_s_busy"]) == (4, 8.0, 0.869)
    assert (overall["queue_class_1"], overall["queue_class_2"], overall["estimated_ru"]) == (6, 3, 28.86)
    assert result("cost")["app_insights"]["bytes_per_turn"] == 21_559


def test_pricing_cost_json_gives_the_hand_computed_bill():
    assert cost.priced(result("cost")) == EXPECTED


def test_pricing_cost_json_reproduces_the_documents_table():
    table, per_thousand = doc_bill()
    assert len(table["10,000"]) == len(DOC_LINES)
    assert cost.priced(result("cost")) == table
    totals = [table[c]["total"] / COLUMNS[c] * 1000 for c in COLUMNS]
    assert [round(totals[0], 2), round(totals[1], 2), round(totals[2], 3)] == per_thousand == [10.23, 0.51, 0.103]


def test_the_stored_bill_is_the_priced_one():
    for name in ("cost", "cost-before", "cost-before-spans", "cost-long", "cost-long-before"):
        data = result(name)
        assert data["monthly"] == cost.priced(data), name


@pytest.mark.parametrize(("name", "dollars"), [
    ("cost-before", 737.50), ("cost-before-spans", 721.50), ("cost-long-before", 1012.00), ("cost-long", 955.75)])
def test_the_cuts_request_units_at_100_million_turns(name, dollars):
    """docs/cost.md, "The cut": RU, 100 M a month: estimated RU a turn x 1e8 x $0.25 / million."""
    data = result(name)
    assert data["overall"]["estimated_ru"] * 100_000_000 * 0.25e-6 == pytest.approx(dollars)
    assert cost.priced(data)["100,000,000"]["cosmos request units"] == dollars
