"""Liveness does not depend on Cosmos DB (a blip there must not get the replica restarted by its
liveness probe); readiness does, and says so with a 503, not a stack trace."""
from switchboard.errors import TransientError


def test_liveness_answers_while_cosmos_db_is_down_and_readiness_does_not(client_as, services, monkeypatch):
    anonymous = client_as()
    assert anonymous.get("/healthz").get_json()["status"] == "ok"

    def down(*_args, **_kwargs):
        raise TransientError("Cosmos DB: 503 Service Unavailable")

    monkeypatch.setattr(services.accounts, "count", down)
    live = anonymous.get("/livez")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
    ready = anonymous.get("/healthz")
    assert ready.status_code == 503 and "Traceback" not in ready.get_data(as_text=True)
