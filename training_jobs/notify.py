"""The notification a finished training job posts to a webhook (`NOTIFY_WEBHOOK_URL`).

One JSON object (documented in docs/retraining.md, so a Logic App, a Teams or a Slack workflow can take it):

    {"event": "training.finished", "job_id": "...", "status": "promoted", "version": "2.1.0",
     "promoted": true, "requested_by": "ada", "metrics": {...}, "gate": {...}, "error": null,
     "url": "https://admin.example.com/models/jobs/<id>", "text": "one line for a chat channel"}

A failed delivery (a network error or a non-2xx answer) is retried with backoff and logged; it never
fails the job.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

log = logging.getLogger("training.notify")
EVENT = "training.finished"


def payload(job: dict, admin_url: str) -> dict:
    version, status = job.get("version"), job["status"]
    gate = job.get("gate") or {}
    text = f"Training job {job['id']} ({job.get('requested_by', '?')}): {status}"
    if version:
        text += f", version {version}"
    if gate.get("reasons") and status != "promoted":
        text += f": {'; '.join(gate['reasons'])}"
    if job.get("error"):
        text += f": {job['error']}"
    return {"event": EVENT, "job_id": job["id"], "status": status, "version": version,
            "promoted": status == "promoted", "requested_by": job.get("requested_by"),
            "metrics": job.get("metrics"), "gate": job.get("gate"), "error": job.get("error"),
            "url": f"{admin_url.rstrip('/')}/models/jobs/{job['id']}", "text": text}


def post(url: str, body: dict, attempts: int = 3, timeout_s: float = 10.0,
         sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST `body` as JSON; True once a 2xx came back. The URL is never logged (it is a secret in
    Teams and Slack workflows): only the host."""
    host = urllib.parse.urlsplit(url).hostname or "?"
    data = json.dumps(body).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            problem = f"HTTP {e.code}"
        except (OSError, ValueError) as e:
            problem = type(e).__name__ + (f": {e.reason}" if isinstance(e, urllib.error.URLError) else "")
        log.warning("notification to %s failed (attempt %d of %d): %s", host, attempt, attempts, problem)
        if attempt < attempts:
            sleep(2.0 ** attempt)
    log.error("notification for job %s to %s not delivered after %d attempts", body.get("job_id"), host, attempts)
    return False
