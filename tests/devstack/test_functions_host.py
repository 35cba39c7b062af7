"""The local functions host is driven by the app's own metadata and honours host.json."""
import pytest

from devstack.functions_host import Host, resolve
from devstack.host_queues import QueueOptions, decode_queue_body, timespan
from devstack.stack import Ports, app_settings
from helpers import ROOT


def test_host_json_timespans():
    assert timespan("00:00:02", 0) == 2.0
    assert timespan("00:00:00.100", 0) == pytest.approx(0.1)
    assert timespan("1.00:00:01", 0) == 86401
    assert timespan(None, 7.0) == 7.0
    with pytest.raises(ValueError, match="bad TimeSpan"):
        timespan("2 seconds", 0)


def test_queue_options_come_from_host_json():
    options = QueueOptions.from_host_json({"extensions": {"queues": {
        "batchSize": 4, "maxDequeueCount": 3, "visibilityTimeout": "00:00:05", "maxPollingInterval": "00:00:01"}}})
    assert (options.batch_size, options.new_batch_threshold, options.max_dequeue_count) == (4, 2, 3)
    assert (options.visibility_timeout, options.max_polling_interval, options.min_polling_interval) == (5, 1, 0.1)


def test_queue_bodies_are_base64_as_the_functions_host_expects():
    assert decode_queue_body("aGk=", "base64") == b"hi"
    with pytest.raises(ValueError, match="not base64"):
        decode_queue_body("{not base64}", "base64")


def test_binding_expressions_read_settings(monkeypatch):
    monkeypatch.setenv("INCOMING_QUEUE", "turns-incoming")
    assert resolve("%INCOMING_QUEUE%") == "turns-incoming"
    with pytest.raises(KeyError, match="NOPE"):
        resolve("%NOPE%")


def test_every_function_of_the_app_is_registered_from_its_metadata(monkeypatch):
    for key, value in app_settings(Ports()).items():
        monkeypatch.setenv(key, value)
    host = Host(ROOT / "function_app", port=0)
    assert {(r.name, r.route, tuple(r.methods)) for r in host.routes} == {
        ("sendbird_webhook", "channels/sendbird/webhook", ("POST",)),
        ("webchat_messages", "channels/webchat/messages", ("POST",)),
        ("webchat_replies", "channels/webchat/conversations/{conversation_id}/messages", ("GET",)),
        ("agent_release", "conversations/{conversation_id}/release", ("POST",)),
    }
    from core.routing import BRANCHES, queue_for
    assert {listener.queue for listener in host.listeners} == {
        "turns-incoming", "turns-outgoing", *(queue_for(b) for b in BRANCHES)}
    assert host.queue_options.max_dequeue_count == 5
