"""bench/counting_proxy.py's classifiers: a recorded request (method, path, query, kept headers) -> the
Storage queue or blob operation, or the Cosmos DB operation, that Azure bills (docs/cost.md, "How it is
counted"). Records are built as the proxy builds them (unquoted path, parse_qs query, lower-case kept
headers); no proxy or server runs."""
from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from bench.counting_proxy import QUEUE_CLASS_1, Log, Record, blob_operation, cosmos_operation, queue_operation

QUEUE = "/devstoreaccount1/turns-incoming"
MESSAGE_ID = "6f1b2c3d-0000-4000-8000-000000000001"


def record(service: str, method: str, url: str, headers: dict[str, str] | None = None, status: int = 200,
           request_bytes: int = 0, response_bytes: int = 0) -> Record:
    """A Record as the proxy's handler makes one from the request line and headers."""
    parts = urlsplit(url)
    return Record(service, method, unquote(parts.path), parse_qs(parts.query), dict(headers or {}),
                  request_bytes, response_bytes, status, 0.0, 0.0)


# ---- queues -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "url", "operation"), [
    ("POST", f"{QUEUE}/messages", "put message"),
    ("POST", f"{QUEUE}/messages?messagettl=-1&visibilitytimeout=0", "put message"),
    ("GET", f"{QUEUE}/messages", "get messages"),
    ("GET", f"{QUEUE}/messages?numofmessages=16&visibilitytimeout=600", "get messages"),
    ("GET", f"{QUEUE}/messages?peekonly=true", "peek messages"),
    ("GET", f"{QUEUE}/messages?peekonly=True&numofmessages=32", "peek messages"),
    ("GET", f"{QUEUE}/messages?peekonly=false", "get messages"),
    ("DELETE", f"{QUEUE}/messages/{MESSAGE_ID}?popreceipt=AgAAAAMAAAAAAAAA", "delete message"),
    ("PUT", f"{QUEUE}/messages/{MESSAGE_ID}?popreceipt=AgAAAAMAAAAAAAAA&visibilitytimeout=30", "update message"),
    ("DELETE", f"{QUEUE}/messages", "clear messages"),
    ("PUT", QUEUE, "create queue"),
    ("GET", "/devstoreaccount1?comp=list", "list queues"),
    ("GET", f"{QUEUE}?comp=metadata", "queue metadata"),
    ("HEAD", f"{QUEUE}?comp=metadata", "queue metadata"),
    ("PUT", f"{QUEUE}?comp=metadata", "set queue metadata"),
    ("DELETE", QUEUE, "delete queue"),
])
def test_queue_operation_from_method_path_and_query(method, url, operation):
    assert queue_operation(record("queue", method, url)) == operation


def test_queue_operation_of_an_intent_queue_and_a_percent_encoded_message_id():
    r = record("queue", "DELETE", "/devstoreaccount1/intent-faq/messages/abc%2Ddef?popreceipt=x%3D%3D")
    assert r.path == "/devstoreaccount1/intent-faq/messages/abc-def"
    assert queue_operation(r) == "delete message"
    assert queue_operation(record("queue", "POST", "/devstoreaccount1/turns-outgoing/messages/")) == "put message"


@pytest.mark.parametrize("operation", ["put message", "update message", "delete message", "clear messages",
                                       "create queue", "delete queue", "set queue metadata"])
def test_writes_are_class_1(operation):
    assert operation in QUEUE_CLASS_1


@pytest.mark.parametrize("operation", ["get messages", "peek messages", "queue metadata"])
def test_reads_are_class_2(operation):
    # bench/cost.py counts Class 2 as every productive operation that is not in QUEUE_CLASS_1
    assert operation not in QUEUE_CLASS_1


def test_a_turns_queue_requests_split_6_class_1_and_3_class_2():
    """A turn puts one message on each of three queues, gets it once and deletes it once (docs/cost.md: 6 and 3)."""
    ops = []
    for queue in ("turns-incoming", "intent-greeting", "turns-outgoing"):
        base = f"/devstoreaccount1/{queue}/messages"
        ops += [queue_operation(record("queue", "POST", base)),
                queue_operation(record("queue", "GET", f"{base}?numofmessages=16")),
                queue_operation(record("queue", "DELETE", f"{base}/{MESSAGE_ID}?popreceipt=p"))]
    assert sum(op in QUEUE_CLASS_1 for op in ops) == 6
    assert sum(op not in QUEUE_CLASS_1 for op in ops) == 3


# ---- blobs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "url", "operation"), [
    ("GET", "/devstoreaccount1/azure-webjobs-hosts/locks/app/host", "read"),
    ("HEAD", "/devstoreaccount1/azure-webjobs-hosts/locks/app/host", "read"),
    ("PUT", "/devstoreaccount1/azure-webjobs-hosts/locks/app/host?comp=lease", "write"),
    ("PUT", "/devstoreaccount1/models/model.onnx", "write"),
    ("POST", "/devstoreaccount1/models/model.onnx", "write"),
    ("DELETE", "/devstoreaccount1/models/model.onnx", "delete"),
    ("GET", "/devstoreaccount1/models?restype=container&comp=list&prefix=v1", "list"),
    ("GET", "/devstoreaccount1?comp=list", "list"),
    ("OPTIONS", "/devstoreaccount1/models/model.onnx", "other"),
])
def test_blob_operation(method, url, operation):
    assert blob_operation(record("blob", method, url)) == operation


# ---- Cosmos DB --------------------------------------------------------------------------------------------
DOCS = "/dbs/switchboard/colls/conversations/docs"


@pytest.mark.parametrize(("method", "url", "headers", "operation"), [
    ("GET", f"{DOCS}/sendbird%3Achannel-1", {}, "point read"),
    ("PUT", f"{DOCS}/sendbird%3Achannel-1", {"content-type": "application/json"}, "replace"),
    ("PATCH", f"{DOCS}/sendbird%3Achannel-1", {"content-type": "application/json"}, "patch"),
    ("DELETE", f"{DOCS}/sendbird%3Achannel-1", {}, "delete"),
    ("POST", DOCS, {"x-ms-documentdb-isquery": "true", "content-type": "application/query+json"}, "query"),
    ("POST", DOCS, {"x-ms-documentdb-isquery": "True"}, "query"),
    ("POST", DOCS, {"content-type": "application/query+json"}, "query"),
    ("POST", DOCS, {"x-ms-documentdb-is-upsert": "true", "content-type": "application/json"}, "upsert"),
    ("POST", DOCS, {"x-ms-documentdb-is-upsert": "True"}, "upsert"),
    ("POST", DOCS, {"x-ms-documentdb-is-upsert": "false", "content-type": "application/json"}, "create"),
    ("POST", DOCS, {"content-type": "application/json"}, "create"),
    ("POST", DOCS, {}, "create"),
    ("GET", DOCS, {}, "read feed"),
])
def test_cosmos_document_operation(method, url, headers, operation):
    assert cosmos_operation(record("cosmos", method, url, headers)) == (operation, "conversations")


@pytest.mark.parametrize(("url", "container"), [
    ("/", ""),
    ("/dbs", ""),
    ("/dbs/switchboard", ""),
    ("/dbs/switchboard/colls", ""),
    ("/dbs/switchboard/colls/turns", "turns"),
    ("/dbs/switchboard/colls/turns/pkranges", "turns"),
])
def test_cosmos_account_database_and_container_requests_are_metadata(url, container):
    assert cosmos_operation(record("cosmos", "GET", url)) == ("metadata", container)


def test_cosmos_operation_names_the_container():
    assert cosmos_operation(record("cosmos", "GET", "/dbs/switchboard/colls/outbox/docs/t-1")) == \
        ("point read", "outbox")
    assert cosmos_operation(record("cosmos", "POST", "/dbs/switchboard/colls/turns/docs",
                                   {"x-ms-documentdb-is-upsert": "true"})) == ("upsert", "turns")
    assert cosmos_operation(record("cosmos", "POST", "/dbs/x/colls/catalogue/docs",
                                   {"x-ms-documentdb-isquery": "true"})) == ("query", "catalogue")


# ---- the log ----------------------------------------------------------------------------------------------
def test_log_keeps_records_only_while_counting_and_take_empties_it():
    log = Log()
    log.add(record("queue", "POST", f"{QUEUE}/messages"))  # the warm-up: not counted
    assert log.take() == []
    log.counting = True
    first, second = record("queue", "POST", f"{QUEUE}/messages"), record("cosmos", "GET", f"{DOCS}/x")
    log.add(first)
    log.add(second)
    assert log.take() == [first, second]
    assert log.take() == []
