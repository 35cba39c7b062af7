"""The dashboard: charts of the turn log over a chosen time range.

The page itself is a form (the range) and empty canvases; `static/js/dashboard.js` fetches
`/dashboard/data` with the same query string and draws the charts (no inline script: the CSP forbids
it). The data comes from `admin_site.rollups`: hourly roll-ups plus a bounded live part.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for

from admin_site.auth import requires
from admin_site.rollups import HOUR
from admin_site.services import services
from switchboard.errors import SwitchboardError

bp = Blueprint("dashboard", __name__)
log = logging.getLogger(__name__)
PRESETS = {"1h": HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR}  # the choices, by how far back they reach
DEFAULT_PRESET = "24h"
CUSTOM = "custom"
MAX_DAYS = 31


class BadRange(ValueError):
    """The query string names no range the dashboard can draw; the message says why."""


@dataclass(frozen=True)
class Range:
    start: int  # epoch ms, inclusive
    end: int  # epoch ms, exclusive; never after now
    preset: str  # one of PRESETS, or CUSTOM


def parse_range(args: Mapping[str, str], now_ms: float) -> Range:
    """The range a query string asks for: `range=1h|24h|7d` (24h when absent), or `range=custom`
    (or no range) with `from` and `to`: ISO 8601 (a time without an offset is in `tz`, minutes west
    of UTC as JavaScript's getTimezoneOffset() gives them, UTC by default) or epoch milliseconds."""
    preset = (args.get("range") or "").strip()
    first, last = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    now = int(now_ms)
    if preset in PRESETS:
        if first or last:
            raise BadRange(f"give either range={preset} or from and to (with range=custom), not both")
        return Range(now - PRESETS[preset], now, preset)
    if preset not in ("", CUSTOM):
        raise BadRange(f"range must be one of {', '.join(PRESETS)} or {CUSTOM}, not {preset[:40]!r}")
    if not first and not last:
        if preset == CUSTOM:
            raise BadRange("a custom range needs from and to")
        return Range(now - PRESETS[DEFAULT_PRESET], now, DEFAULT_PRESET)
    if not first or not last:
        raise BadRange(f"a custom range needs {'from' if not first else 'to'} as well")
    offset = _tz(args.get("tz"))
    start, end = _instant("from", first, offset), _instant("to", last, offset)
    if start >= end:
        raise BadRange("from must be before to")
    if end - start > MAX_DAYS * 24 * HOUR:
        raise BadRange(f"a range can cover at most {MAX_DAYS} days; this one covers "
                       f"{(end - start) / (24 * HOUR):.1f}")
    if start >= now:
        raise BadRange("from is in the future")
    return Range(start, min(end, now), CUSTOM)


def _tz(raw: str | None) -> int:
    if not (raw or "").strip():
        return 0
    try:
        minutes = int(str(raw).strip())
    except ValueError:
        raise BadRange("tz must be whole minutes west of UTC, e.g. -60 for UTC+01:00") from None
    if not -16 * 60 <= minutes <= 16 * 60:
        raise BadRange("tz must be within 16 hours of UTC")
    return minutes


def _instant(name: str, raw: str, tz_minutes: int) -> int:
    """Epoch ms of `raw`: digits are epoch ms; anything else must be ISO 8601."""
    if raw.isdigit():
        return int(raw)
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BadRange(f"{name} is not a date and time: {raw[:40]!r} (use ISO 8601, e.g. 2025-01-31T14:00, "
                       f"or epoch milliseconds)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone(dt.timedelta(minutes=-tz_minutes)))
    return int(when.timestamp() * 1000)


def _form(args: Mapping[str, str]) -> dict[str, str]:
    """What the range form shows: the query string as typed."""
    return {key: (args.get(key) or "").strip() for key in ("range", "from", "to", "tz")}


@bp.get("/")
@requires("viewer")
def index():
    form = _form(request.args)
    try:
        chosen = parse_range(request.args, services().rollups.now())
    except BadRange as e:
        return render_template("dashboard.html", form=form, presets=PRESETS, error=str(e), data_url=None), 400
    form["range"] = chosen.preset
    query: dict[str, Any] = {k: v for k, v in form.items() if v and (chosen.preset == CUSTOM or k == "range")}
    return render_template("dashboard.html", form=form, presets=PRESETS, error=None,
                           data_url=url_for("dashboard.data", **query))


@bp.get("/dashboard/data")
@requires("viewer")
def data():
    """The charts' data as JSON (see `admin_site.rollups.chart_data`); 400 with the reason for a bad range."""
    rollups = services().rollups
    try:
        chosen = parse_range(request.args, rollups.now())
    except BadRange as e:
        return jsonify({"error": str(e)}), 400
    try:
        answer = rollups.report(chosen.start, chosen.end)
    except SwitchboardError as e:
        log.warning("dashboard data: %s", e)
        return jsonify({"error": f"the turn log cannot be read just now ({e}); try again shortly"}), 503
    return jsonify({**answer, "range": chosen.preset})
