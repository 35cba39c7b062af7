"""Talking to a running stack as SendBird, a customer and an operator would (tests and benchmarks)."""
from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
from azure.cosmos import CosmosClient, exceptions
from azure.storage.queue import QueueClient

from core.sendbird import signature as sign
from devstack.stack import Stack, storage_connection

CHANNEL_PREFIX = "sendbird_group_channel_"


def message_event(text: str, channel_url: str, message_id: int | str, sender: str = "customer-1",
                  **overrides: Any) -> dict[str, Any]:
    """A `group_channel:message_send` webhook payload, as SendBird documents it."""
    event = {"category": "group_channel:message_send", "type": "MESG", "app_id": "LOCAL-APP",
             "sender": {"user_id": sender, "nickname": "Customer", "profile_url": ""},
             "payload": {"message_id": message_id, "message": text, "custom_type": "", "data": "",
                         "created_at": int(time.time() * 1000)},
             "channel": {"channel_url": channel_url, "name": "Support", "custom_type": ""},
             "members": [{"user_id": sender, "nickname": "Customer"}, {"user_id": "switchboard-bot"}],
             "sdk": "API"}
    event.update(overrides)
    return event


class WebChat:
    """One customer of the web chat channel, as the page talks to it: a conversation the server issued,
    and its token on every request. `address` is sent as X-Forwarded-For (the entry the function app
    trusts by default), so a test or benchmark can be many customers, each under its own limits."""

    def __init__(self, functions: httpx.Client, address: str | None = None) -> None:
        self.functions = functions
        self.address_headers = {"X-Forwarded-For": address} if address else {}
        opened = functions.post("/channels/webchat/conversations", headers=self.address_headers)
        assert opened.status_code == 201, opened.text
        self.conversation_id, self.token = opened.json()["conversation_id"], opened.json()["token"]
        self.headers = {**self.address_headers, "Authorization": f"Bearer {self.token}"}
        self.cursor = 0.0

    def send(self, text: str, message_id: str | None = None) -> httpx.Response:
        body = {"conversation_id": self.conversation_id, "text": text, "message_id": message_id or uuid.uuid4().hex}
        return self.functions.post("/channels/webchat/messages", json=body, headers=self.headers)

    def poll(self, after: float | None = None) -> httpx.Response:
        return self.functions.get(f"/channels/webchat/conversations/{self.conversation_id}/messages",
                                  params={"after": self.cursor if after is None else after}, headers=self.headers)

    def replies(self, count: int = 1, timeout: float = 20.0) -> list[str]:
        """The bot's next `count` replies (after the cursor of the last call), waiting up to `timeout`."""
        deadline, found = time.monotonic() + timeout, []
        while len(found) < count and time.monotonic() < deadline:
            page = self.poll().json()
            found += [m["text"] for m in page["messages"]]
            self.cursor = page["cursor"]
            if len(found) < count:
                time.sleep(0.05)
        return found


class Live:
    def __init__(self, stack: Stack) -> None:
        self.stack, self.settings = stack, stack.settings
        p = stack.ports
        self.functions = httpx.Client(base_url=f"http://127.0.0.1:{p.functions}/api", timeout=10)
        self.sendbird = httpx.Client(base_url=f"http://127.0.0.1:{p.sendbird}", timeout=10)
        # the NLU service, straight to it, with the stack's key (its only anonymous routes are the probes)
        self.nlu = httpx.Client(base_url=f"http://127.0.0.1:{p.nlu}", timeout=10, headers=stack.nlu_headers())
        self._cosmos = None

    def webchat(self, address: str | None = None) -> WebChat:
        return WebChat(self.functions, address)

    @staticmethod
    def new_channel() -> str:
        return CHANNEL_PREFIX + uuid.uuid4().hex[:12]

    def webhook(self, event: dict | bytes, signature: str | None = None) -> httpx.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        signature = sign(body, self.settings["SENDBIRD_API_TOKEN"]) if signature is None else signature
        return self.functions.post("/channels/sendbird/webhook", content=body,
                                   headers={"Content-Type": "application/json", "x-sendbird-signature": signature})

    def say(self, text: str, channel_url: str, message_id: int | str | None = None) -> httpx.Response:
        response = self.webhook(message_event(text, channel_url, message_id or uuid.uuid4().int % 10**12))
        assert response.status_code == 200, response.text
        return response

    def sent(self, channel_url: str | None = None) -> list[dict]:
        messages = self.sendbird.get("/__standin/sent").json()["messages"]
        return [m for m in messages if channel_url is None or m["channel_url"] == channel_url]

    def replies(self, channel_url: str, count: int, timeout: float = 20.0, settle: float = 0.0) -> list[str]:
        """The bot's messages in the channel once there are `count` of them (then `settle` seconds more,
        to see that no extra one follows)."""
        deadline = time.monotonic() + timeout
        while len(found := self.sent(channel_url)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        if settle:
            time.sleep(settle)
            found = self.sent(channel_url)
        return [m["message"] for m in found]

    # ---- what the stack stored -------------------------------------------------------------------
    def container(self, name: str):
        if self._cosmos is None:
            client = CosmosClient(self.settings["COSMOS_ENDPOINT"], self.settings["COSMOS_KEY"],
                                  enable_endpoint_discovery=False)
            self._cosmos = client.get_database_client(self.settings["COSMOS_DATABASE"])
        return self._cosmos.get_container_client(name)

    def document(self, container: str, doc_id: str, partition: str) -> dict | None:
        try:
            return self.container(container).read_item(doc_id, partition_key=partition)
        except exceptions.CosmosResourceNotFoundError:
            return None

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(storage_connection(self.stack.ports), name)

    def peek(self, name: str) -> list[str]:
        """Messages waiting in a queue, decoded (they are base64 text)."""
        try:
            return [base64.b64decode(m.content).decode() for m in self.queue(name).peek_messages(max_messages=32)]
        except Exception as e:  # a queue that was never created holds nothing
            if "QueueNotFound" in str(e):
                return []
            raise
