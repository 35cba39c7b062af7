"""The dashboard page and its JSON endpoint: ranges, refusals with reasons, what the charts get, and a
page whose only scripts are the site's own static files."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from admin_site.rollups import HOUR, MINUTE, TurnRollups
from admin_site.views.dashboard import BadRange, parse_range

NOW = 1_750_003_800_000  # 16:10 UTC on 2025-06-15 (epoch ms)
DAY = 24 * HOUR


@pytest.fixture
def clocked(app, services):
    services.rollups = TurnRollups(services.documents["turns"], services.documents["rollups"], lambda: NOW / 1000)
    return app


def turn(n: int, at: float, channel: str = "webchat", branch: str = "greeting", oos: bool = False,
         e2e: float = 100.0) -> dict:
    return {"id": f"{channel}:m{n}", "conversation_id": f"{channel}:c{n}", "status": "delivered", "channel": channel,
            "user_id": "u", "text": "<b>hi</b>", "received_at": at, "branch": branch, "reply": "ok", "error": None,
            "nlu": {"intent": {"name": "greeting" if not oos else None, "confidence": 0.9}, "intent_ranking": [],
                    "out_of_scope": oos, "entities": []},
            "timings": {"webchat_messages": 1.0, "understand": 20.0, f"intent_{branch}": 5.0, "deliver": 3.0,
                        "end_to_end": e2e},
            "updated_at": at + e2e}


def data(client, query: str):
    answer = client.get(f"/dashboard/data?{query}")
    return answer.status_code, answer.get_json()


# ---- the range a query string names ---------------------------------------------------------------

def test_presets_reach_back_from_now_and_the_default_is_the_last_day():
    assert parse_range({"range": "1h"}, NOW).start == NOW - HOUR
    assert parse_range({"range": "7d"}, NOW).start == NOW - 7 * DAY
    default = parse_range({}, NOW)
    assert (default.start, default.end, default.preset) == (NOW - DAY, NOW, "24h")
    assert parse_range({"range": "7d", "from": "", "to": ""}, NOW).preset == "7d"  # the form's empty fields


def test_a_custom_range_reads_iso_times_in_the_browsers_zone_or_epoch_ms():
    got = parse_range({"range": "custom", "from": "2025-06-15T10:00", "to": "2025-06-15T12:30", "tz": "-120"}, NOW)
    assert got.start == int(dt.datetime(2025, 6, 15, 8, 0, tzinfo=dt.UTC).timestamp() * 1000)
    assert got.end - got.start == 150 * MINUTE and got.preset == "custom"
    assert parse_range({"from": "2025-06-15T10:00Z", "to": str(NOW)}, NOW).end == NOW
    assert parse_range({"from": "2025-06-15T10:00+02:00", "to": "2025-06-15T11:00+02:00"}, NOW).start == \
        got.start
    assert parse_range({"from": str(NOW - HOUR), "to": str(NOW + DAY)}, NOW).end == NOW  # never past now


@pytest.mark.parametrize("args, reason", [
    ({"range": "5y"}, "range must be one of 1h, 24h, 7d or custom"),
    ({"range": "7d", "from": "2025-06-01T00:00"}, "either range=7d or from and to"),
    ({"range": "custom"}, "needs from and to"),
    ({"from": "2025-06-01T00:00"}, "needs to as well"),
    ({"from": "yesterday", "to": "2025-06-01T00:00"}, "from is not a date and time"),
    ({"from": "2025-06-01T00:00", "to": "2025-13-01T00:00"}, "to is not a date and time"),
    ({"from": "2025-06-02T00:00", "to": "2025-06-01T00:00"}, "from must be before to"),
    ({"from": "2025-06-01T00:00", "to": "2025-06-01T00:00"}, "from must be before to"),
    ({"from": "2025-04-01T00:00", "to": "2025-05-15T00:00"}, "at most 31 days; this one covers 44.0"),
    ({"from": "2025-07-01T00:00", "to": "2025-07-02T00:00"}, "from is in the future"),
    ({"from": "2025-06-01T00:00", "to": "2025-06-02T00:00", "tz": "east"}, "tz must be whole minutes"),
    ({"from": "2025-06-01T00:00", "to": "2025-06-02T00:00", "tz": "9999"}, "within 16 hours"),
])
def test_a_range_that_cannot_be_drawn_is_refused_with_the_reason(args, reason):
    with pytest.raises(BadRange, match=re.escape(reason)):
        parse_range(args, NOW)


def test_31_days_are_allowed():
    got = parse_range({"from": str(NOW - 31 * DAY), "to": str(NOW)}, NOW)
    assert got.end - got.start == 31 * DAY


# ---- the JSON endpoint -----------------------------------------------------------------------------

def test_the_endpoint_answers_each_preset_with_its_steps(clocked, client_as):
    viewer = client_as("viewer")
    status, hour = data(viewer, "range=1h")
    assert status == 200 and hour["range"] == "1h" and hour["step_ms"] == 5 * MINUTE
    assert (hour["from"], hour["to"]) == (NOW - HOUR, NOW) and len(hour["series"]["starts"]) == 12
    status, day = data(viewer, "range=24h")
    assert status == 200 and day["step_ms"] == HOUR and len(day["series"]["starts"]) == 25  # partial hours at both ends
    status, week = data(viewer, "range=7d")
    assert status == 200 and week["source"]["rollups"] == 7 * 24 - 1  # the newest hour is still in its grace
    status, custom = data(viewer, "from=2025-06-14T00:00&to=2025-06-15T00:00&tz=0")
    assert status == 200 and custom["range"] == "custom" and custom["to"] - custom["from"] == DAY


def test_the_endpoint_counts_turns_rates_and_latency_of_the_range(clocked, client_as, services):
    turns = services.documents["turns"]
    for i in range(40):  # 10 minutes apart, over the last 6 hours and 40 minutes
        turns.upsert(turn(i, NOW - (i + 1) * 10 * MINUTE, "sendbird" if i % 4 == 0 else "webchat",
                          branch="fallback" if i % 5 == 0 else "human_handoff" if i == 7 else "greeting",
                          oos=i % 10 == 0, e2e=10.0 * (i + 1)))
    turns.upsert(turn(99, NOW - 2 * DAY))  # outside the last day
    _, got = data(client_as("viewer"), "range=24h")
    assert got["totals"]["turns"] == 40 and got["totals"]["by_channel"] == {"sendbird": 10, "webchat": 30}
    rates = {r["name"]: (r["turns"], r["rate"]) for r in got["rates"]}
    assert rates == {"fallback": (8, 0.2), "out_of_scope": (4, 0.1), "handoff": (1, 0.025), "failed": (0, 0.0)}
    e2e = next(s for s in got["latency"] if s["step"] == "end_to_end")
    assert e2e["turns"] == 40
    assert e2e["p50"] == pytest.approx(200, rel=0.05) and e2e["p95"] == pytest.approx(380, rel=0.05)
    assert sum(got["series"]["turns_by_channel"]["webchat"]) == 30
    assert {"name": "greeting", "turns": 36} in got["intents"]
    _, week = data(client_as("viewer"), "range=7d")
    assert week["totals"]["turns"] == 41


def test_an_empty_log_gives_zero_turns_and_empty_series_not_an_error(clocked, client_as):
    status, got = data(client_as("viewer"), "range=7d")
    assert status == 200 and got["totals"]["turns"] == 0 and got["intents"] == [] and got["latency"] == []
    assert got["series"]["turns_by_channel"] == {} and len(got["series"]["starts"]) == 7 * 24 + 1


@pytest.mark.parametrize("query, reason", [
    ("from=2025-06-14T10:00&to=2025-06-14T09:00", "from must be before to"),
    ("from=soon&to=2025-06-14T09:00", "from is not a date and time"),
    ("from=2025-05-01T00:00&to=2025-06-14T00:00", "at most 31 days"),
    ("range=forever", "range must be one of"),
])
def test_bad_input_to_the_endpoint_is_a_400_with_the_reason(clocked, client_as, query, reason):
    status, got = data(client_as("viewer"), query)
    assert status == 400 and reason in got["error"]


def test_the_endpoint_needs_a_login(clocked, client_as):
    anonymous = client_as()
    answer = anonymous.get("/dashboard/data?range=24h")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


# ---- the page -------------------------------------------------------------------------------------

def test_every_role_sees_the_page_whose_only_scripts_are_the_sites_static_files(clocked, client_as):
    for role in ("viewer", "agent", "editor", "admin"):
        answer = client_as(role).get("/")
        assert answer.status_code == 200, role
    page = answer.get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts]
    assert sources == ["/static/js/app.js", "/static/vendor/chart.umd.js", "/static/js/dashboard.js"]
    assert all(body.strip() == "" for _, body in scripts)  # no inline script
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers either
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert page.count("<canvas") == 5
    assert 'data-source="/dashboard/data?range=24h"' in page
    assert "No turns in this range." in page  # shown by the script when the data is empty


def test_the_charting_library_is_served_from_the_sites_own_static_files(client_as):
    answer = client_as("viewer").get("/static/vendor/chart.umd.js")
    assert answer.status_code == 200, "run `make install`: it copies chart.js into admin_site/static/vendor/"
    assert b"Chart.js v4" in answer.get_data()[:200]
    answer.close()


def test_the_page_passes_the_chosen_range_to_its_script(clocked, client_as):
    page = client_as("viewer").get("/?range=custom&from=2025-06-14T08:00&to=2025-06-14T20:00&tz=-60")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-source="/dashboard/data?range=custom&amp;from=2025-06-14T08:00&amp;to=2025-06-14T20:00&amp;tz=-60"' \
        in html
    assert '<option value="custom" selected>' in html and 'value="2025-06-14T08:00"' in html
    seven = client_as("viewer").get("/?range=7d").get_data(as_text=True)
    assert 'data-source="/dashboard/data?range=7d"' in seven


def test_a_bad_range_on_the_page_comes_back_filled_with_the_problem_named(clocked, client_as):
    answer = client_as("viewer").get("/?range=custom&from=2025-06-14T20:00&to=2025-06-14T08:00&tz=0")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "from must be before to" in html
    assert 'value="2025-06-14T20:00"' in html and 'value="2025-06-14T08:00"' in html
    assert "data-source" not in html
    typed = client_as("viewer").get('/?range=custom&from="><script>alert(1)</script>&to=x')
    assert typed.status_code == 400 and "<script>alert(1)" not in typed.get_data(as_text=True)
