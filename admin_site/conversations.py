"""The function app's conversation documents as the admin pages read them (`Conversations`): one
conversation's state (its channel and customer, whether a person has it), and the conversations
handed off to a person, which the agent inbox lists and the navigation bar counts.

The function app writes one document per conversation (container `conversations`, partition /id); the
admin site only reads them: a hand-off and its release go through the function app's endpoints.
"""
from __future__ import annotations

from admin_site.ports import Doc, Documents

HANDED_OFF = [("handoff", "=", True)]


class Conversations:
    def __init__(self, docs: Documents) -> None:
        self._docs = docs

    def get(self, conversation_id: str) -> Doc | None:
        return self._docs.get(conversation_id, conversation_id)

    def handed_off(self, limit: int) -> list[Doc]:
        """The conversations a person has, the most recently active first."""
        return self._docs.find(HANDED_OFF, order_by="updated_at", descending=True, top=limit)

    def handed_off_count(self) -> int:
        return self._docs.count(HANDED_OFF)
