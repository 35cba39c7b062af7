"""The function app's agent endpoints, as the agent inbox calls them.

An agent's reply goes through the function app (`POST /api/conversations/{id}/messages`), never
straight to a channel: the bot's own `deliver` step sends it, so it reaches the customer through the
same channel adapter as the bot's replies, deduplicated on its turn id, and the turn log records it.
Release is the function app's own endpoint (`POST /api/conversations/{id}/release`). Both carry the
agent token (`x-agent-token`).

`FunctionsApi` is the httpx client; `MemoryFunctions` its twin, which records the calls and can be
told to fail (the unit tests', and a site run without `FUNCTIONS_URL`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from admin_site.settings import Settings

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class FunctionsError(Exception):
    """The function app refused (`status` is its HTTP status) or did not answer (`status` None);
    the message is what the page shows."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class Functions(Protocol):
    def send_message(self, conversation_id: str, message_id: str, text: str, agent: str) -> dict[str, Any]:
        """Queue an agent's message for the customer; returns the function app's answer (`turn_id`)."""
        ...

    def release(self, conversation_id: str) -> dict[str, Any]:
        """Hand the conversation back to the bot; returns the function app's answer (`changed`)."""
        ...


class FunctionsApi:
    def __init__(self, base_url: str, agent_token: str, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=api_root(base_url), timeout=TIMEOUT, transport=transport,
                                  headers={"x-agent-token": agent_token})

    def send_message(self, conversation_id: str, message_id: str, text: str, agent: str) -> dict[str, Any]:
        return self._post(f"/conversations/{_segment(conversation_id)}/messages",
                          {"message_id": message_id, "text": text, "agent": agent})

    def release(self, conversation_id: str) -> dict[str, Any]:
        return self._post(f"/conversations/{_segment(conversation_id)}/release", None)

    def _post(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as e:
            raise FunctionsError(f"the function app did not answer ({type(e).__name__}: {e})") from e
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not response.is_success:
            reason = answer.get("error") if isinstance(answer, dict) else None
            raise FunctionsError(f"the function app answered {response.status_code}: "
                                 f"{reason or response.text[:300] or response.reason_phrase}", response.status_code)
        return answer if isinstance(answer, dict) else {}


def api_root(url: str) -> str:
    """FUNCTIONS_URL may name the app (`https://app.azurewebsites.net`) or its `/api` root."""
    root = url.rstrip("/")
    return root if root.endswith("/api") else root + "/api"


def _segment(value: str) -> str:
    return quote(value, safe=":@")


@dataclass
class MemoryFunctions:
    """Records each call as (name, arguments); `failures` are raised, one per call, before recording."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[FunctionsError] = field(default_factory=list)

    def _call(self, name: str, **arguments: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.calls.append((name, arguments))

    def send_message(self, conversation_id: str, message_id: str, text: str, agent: str) -> dict[str, Any]:
        self._call("send_message", conversation_id=conversation_id, message_id=message_id, text=text, agent=agent)
        turn_id = f"agent:{conversation_id}:{message_id}"
        return {"conversation_id": conversation_id, "turn_id": turn_id}

    def release(self, conversation_id: str) -> dict[str, Any]:
        self._call("release", conversation_id=conversation_id)
        return {"conversation_id": conversation_id, "handoff": False, "changed": True}


def make_functions(config: Settings) -> Functions:
    """The function app at `config.functions_url` (with the agent token), or the in-memory twin."""
    if config.functions_url:
        return FunctionsApi(config.functions_url, config.agent_api_token)
    return MemoryFunctions()
