"""The admin site's document store: one test body over the in-memory twin and Cosmos DB (the stand-in)."""
from __future__ import annotations

import json
import random
import subprocess
import uuid

import pytest
from azure.cosmos import CosmosClient, PartitionKey

from admin_site.documents import CosmosDocuments, MemoryDocuments
from devstack.stack import COSMOS_KEY
from helpers import ROOT
from switchboard.errors import ConflictError


@pytest.fixture(params=["memory", "cosmos"])
def docs(request):
    if request.param == "memory":
        return MemoryDocuments("things", "/kind")
    client = CosmosClient(request.getfixturevalue("cosmos"), COSMOS_KEY, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"docs-{uuid.uuid4().hex[:8]}")
    return CosmosDocuments(database, "things", "/kind")


def test_create_read_replace_with_etags_and_conflicts_carrying_the_stored_version(docs):
    assert docs.get("intent", "greeting") is None
    first = docs.save({"id": "greeting", "kind": "intent", "examples": ["hi"]}, etag=None)
    assert first["_etag"] and docs.get("intent", "greeting") == first
    with pytest.raises(ConflictError) as created_twice:
        docs.save({"id": "greeting", "kind": "intent", "examples": []}, etag=None)
    assert created_twice.value.current == first
    second = docs.save({**first, "examples": ["hi", "hello"]}, etag=first["_etag"])
    assert second["_etag"] != first["_etag"]
    with pytest.raises(ConflictError) as stale:
        docs.save({**first, "examples": ["howdy"]}, etag=first["_etag"])
    assert stale.value.current["examples"] == ["hi", "hello"]
    assert docs.get("intent", "greeting")["examples"] == ["hi", "hello"]
    with pytest.raises(ConflictError) as gone:
        docs.save({"id": "nobody", "kind": "intent"}, etag=first["_etag"])
    assert gone.value.current is None


def test_delete_with_and_without_an_etag(docs):
    saved = docs.save({"id": "a", "kind": "intent"}, etag=None)
    changed = docs.save({**saved, "x": 1}, etag=saved["_etag"])
    with pytest.raises(ConflictError):
        docs.delete("intent", "a", etag=saved["_etag"])
    docs.delete("intent", "a", etag=changed["_etag"])
    assert docs.get("intent", "a") is None
    docs.delete("intent", "a")  # already gone: no error
    docs.upsert({"id": "b", "kind": "intent"})
    docs.delete("intent", "b")
    assert docs.get("intent", "b") is None


def test_find_and_count_with_conditions_order_and_top(docs):
    rows = [("t1", "webchat", "greeting", 0.9, 10), ("t2", "sendbird", "faq", 0.3, 20),
            ("t3", "webchat", "fallback", 0.2, 30), ("t4", "webchat", "greeting", 0.95, 40)]
    for doc_id, channel, branch, confidence, at in rows:
        docs.upsert({"id": doc_id, "kind": "turn", "channel": channel, "branch": branch, "at": at,
                     "nlu": {"intent": {"name": branch, "confidence": confidence}}, "text": f"Hello {doc_id}"})
    docs.upsert({"id": "x", "kind": "other", "at": 99})

    def ids(**kw):
        return [d["id"] for d in docs.find(**kw)]

    assert ids(partition="turn", order_by="at", descending=True) == ["t4", "t3", "t2", "t1"]
    assert ids(where=[("channel", "=", "webchat")], order_by="at") == ["t1", "t3", "t4"]
    assert ids(where=[("nlu.intent.confidence", "<", 0.5)], order_by="at") == ["t2", "t3"]
    assert ids(where=[("or", [("branch", "=", "fallback"), ("nlu.intent.confidence", "<", 0.35)])],
               order_by="at", descending=True) == ["t3", "t2"]
    assert ids(where=[("text", "contains", "hello T4")]) == ["t4"]
    assert ids(where=[("at", ">=", 20), ("at", "<", 40)], order_by="at", top=1) == ["t2"]
    assert ids(where=[("reviewed", "defined", False), ("kind", "=", "turn")], order_by="at", top=2) == ["t1", "t2"]
    docs.upsert({**docs.get("turn", "t1"), "reviewed": {"by": "ann"}})
    assert ids(where=[("reviewed", "defined", True)]) == ["t1"]
    assert docs.count(partition="turn") == 4 and docs.count(where=[("channel", "=", "sendbird")]) == 1
    assert docs.count(where=[("channel", "=", "nobody")]) == 0


# The query package's own sort, run by node over the stand-in's documents: the reference that the
# stand-in's faster ORDER BY (devstack/cosmos_server.js) must reproduce exactly.
PACKAGE_SORT = """
const helpers = require("@zeit/cosmosdb-query/lib/helpers");
const { docs, orders } = JSON.parse(require("fs").readFileSync(0, "utf8"));
const rows = docs.map((c) => ({ c }));
const sorted = ([path, desc]) => helpers.sort(rows, (r) => r.c._rid, null,
  ...(path ? [[["c", ...path.split(".")], desc]] : [])).map((r) => r.c.id);
console.log(JSON.stringify(orders.map(sorted)));
"""


def test_the_stand_ins_order_by_orders_exactly_as_the_query_package_does(cosmos):
    """Values of every type, many ties, fields missing from some documents, nested fields, both
    directions, with and without TOP; and the order by _rid of a query without ORDER BY."""
    client = CosmosClient(cosmos, COSMOS_KEY, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"order-{uuid.uuid4().hex[:8]}")
    container = database.create_container("things", PartitionKey("/kind"))
    rng = random.Random(5)
    values = [None, True, False, 0, 1, 1.5, -3, 2, "", "a", "B", "b", [1], [1, 2], {"x": 1}, {}]
    written = []  # the order the stand-in holds them in: a replaced document moves to the end
    for i in rng.sample(range(300), 300):  # created out of id order: ties fall back to _rid, not id
        doc = {"id": f"d{i:03d}", "kind": rng.choice("pq")}
        if rng.random() < 0.85:
            doc["at"] = rng.choice(values)
        if rng.random() < 0.5:
            doc["nlu"] = {"score": rng.choice([0.1, 0.5, 0.9, "x"])}
        container.upsert_item(doc)
        written.append(doc["id"])
    for doc in rng.sample(list(container.read_all_items()), 40):  # replaced: same _rid
        container.upsert_item({k: v for k, v in doc.items() if not k.startswith("_")} | {"at": rng.choice(values)})
        written.remove(doc["id"])
        written.append(doc["id"])
    # (the order matters: two equal arrays each compare greater than the other, so with them the
    # sorted order depends on where the sort started from)
    by_id = {d["id"]: d for d in container.query_items("SELECT * FROM c", enable_cross_partition_query=True)}
    stored = [by_id[i] for i in written]
    orders = [["at", False], ["at", True], ["nlu.score", True], ["nlu.score", False], [None, False]]
    expected = json.loads(subprocess.run(["node", "-e", PACKAGE_SORT], cwd=ROOT, check=True, capture_output=True,
                                         input=json.dumps({"docs": stored, "orders": orders}), text=True).stdout)

    def ids(sql: str) -> list[str]:
        return [d["id"] for d in container.query_items(sql, enable_cross_partition_query=True)]

    for (field, desc), want in zip(orders[:-1], expected):
        direction = "DESC" if desc else "ASC"
        assert ids(f"SELECT * FROM c ORDER BY c.{field} {direction}") == want
        assert ids(f"SELECT TOP 7 * FROM c ORDER BY c.{field} {direction}") == want[:7]
    assert ids("SELECT * FROM c") == expected[-1]
    assert len(expected[0]) < len(stored) and len(set(map(json.dumps, (d.get("at") for d in stored)))) > 10
