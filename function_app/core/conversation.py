"""One customer's conversation: the state the branches share, and how a branch's outcome changes it.

Pure data and functions. The store keeps one document per conversation and writes it with its ETag
(`core.stores.update_conversation`); every change here is keyed by `turn_id`, so applying the same
turn twice changes nothing the second time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_REMEMBERED_TURNS = 100


@dataclass(frozen=True)
class Pending:
    """A slot a branch asked the customer for; the next message goes to that branch."""
    branch: str
    slot: str
    attempts: int = 1


@dataclass(frozen=True)
class Outcome:
    """What a branch decided for one turn. `ask` becomes the conversation's pending slot (None clears
    it); `forward` hands the turn to another branch instead of replying; `error` says why the turn
    could not be answered as asked (the reply is then an apology)."""
    reply: str | None = None
    ask: Pending | None = None
    slots: dict[str, str] = field(default_factory=dict)
    handoff: bool | None = None
    forward: str | None = None
    fallback: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that differ from their defaults: the conversation document keeps one outcome
        per remembered turn and every step rewrites the whole document, so what is default is left out
        (`from_dict` reads it back as the default; documents written with every field read the same)."""
        return {name: value for name, value in asdict(self).items() if value != _OUTCOME_DEFAULTS[name]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        ask = data.get("ask")
        return cls(**{**data, "ask": Pending(**ask) if ask else None})


_OUTCOME_DEFAULTS = asdict(Outcome())


@dataclass
class Conversation:
    id: str
    channel: str
    user_id: str
    handoff: bool = False
    pending: Pending | None = None
    slots: dict[str, str] = field(default_factory=dict)
    fallback_count: int = 0
    message_count: int = 0
    turns: dict[str, dict[str, Any]] = field(default_factory=dict)  # turn_id -> {"branch", "outcomes"}
    updated_at: float = 0.0  # epoch ms of the last change (the agent inbox lists the newest first)
    etag: str | None = None

    # --- understand: recording and routing a turn -------------------------------------------------
    def has_turn(self, turn_id: str) -> bool:
        return turn_id in self.turns

    def routed_branch(self, turn_id: str) -> str | None:
        return self.turns[turn_id]["branch"]

    def record_turn(self, turn_id: str, branch: str | None) -> None:
        self.turns[turn_id] = {"branch": branch, "outcomes": {}}
        self.message_count += 1
        while len(self.turns) > MAX_REMEMBERED_TURNS:
            del self.turns[next(iter(self.turns))]

    # --- branches: applying an outcome once -------------------------------------------------------
    def outcome_of(self, turn_id: str, branch: str) -> Outcome | None:
        done = self.turns.get(turn_id, {}).get("outcomes", {}).get(branch)
        return Outcome.from_dict(done) if done is not None else None

    def apply(self, turn_id: str, branch: str, outcome: Outcome) -> None:
        turn = self.turns.setdefault(turn_id, {"branch": branch, "outcomes": {}})
        turn["outcomes"][branch] = outcome.to_dict()
        if outcome.forward:
            return  # the branch it forwards to decides the state
        self.pending = outcome.ask
        self.slots.update(outcome.slots)
        self.fallback_count = self.fallback_count + 1 if outcome.fallback else 0
        if outcome.handoff is not None:
            self.handoff = outcome.handoff

    # --- persistence ------------------------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("etag")
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Conversation:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        pending = known.get("pending")
        known["pending"] = Pending(**pending) if pending else None
        return cls(**known, etag=doc.get("_etag"))
