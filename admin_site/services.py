"""The admin site's resources, built once per process from its settings and kept on the app
(`current_app.extensions["switchboard"]`), as the Flask tutorial's db.py keeps its connection. The
pages reach the containers only through the stores and readers here."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from admin_site.accounts import Accounts
from admin_site.audit import AuditLog
from admin_site.catalogue import CatalogueStore
from admin_site.conversations import Conversations
from admin_site.documents import CosmosDocuments, MemoryDocuments
from admin_site.functions_api import Functions, make_functions
from admin_site.ports import Documents
from admin_site.qna_publish import Publisher, make_publisher
from admin_site.queues import PoisonQueues, make_poison_queues
from admin_site.rollups import TurnRollups
from admin_site.settings import Settings
from admin_site.turnlog import TurnLog
from nlu.training import Training, make_training
from switchboard import branches
from switchboard.branches import Branches
from switchboard.cosmos import (
    AUDIT,
    CATALOGUE,
    CONVERSATIONS,
    OUTBOX,
    PARTITION_KEYS,
    ROLLUPS,
    THROTTLE,
    TURNS,
    USERS,
    open_database,
    translated,
)

# the admin site's own containers, and the function app's that it reads
CONTAINERS = (CATALOGUE, USERS, THROTTLE, AUDIT, ROLLUPS, TURNS, CONVERSATIONS, OUTBOX)


@dataclass
class AdminServices:
    settings: Settings
    branches: Branches  # the function app's branches, replies and default routes (the manifest, read once)
    accounts: Accounts
    audit: AuditLog
    catalogue: CatalogueStore
    turns: TurnLog
    conversations: Conversations
    rollups: TurnRollups  # the dashboard's charts
    queues: PoisonQueues
    functions: Functions  # the function app's agent endpoints: agent replies and release
    qna: Publisher  # publishing QnA pairs to question answering
    training: Training  # the registry, training jobs and their queue
    documents: dict[str, Documents]  # every container by name: what the stores and readers above read


def build(config: Settings) -> AdminServices:
    if config.cosmos_endpoint:
        with translated(f"opening database {config.cosmos_database}"):
            database = open_database(config.cosmos_endpoint, config.cosmos_key, config.cosmos_database)
        make: Callable[[str, str], Documents] = lambda name, key: CosmosDocuments(database, name, key)  # noqa: E731
    else:
        make = MemoryDocuments
    documents: dict[str, Documents] = {name: make(name, PARTITION_KEYS[name]) for name in CONTAINERS}
    manifest = branches.load()
    return AdminServices(
        settings=config, branches=manifest, accounts=Accounts(documents[USERS], documents[THROTTLE]),
        audit=AuditLog(documents[AUDIT]), catalogue=CatalogueStore(documents[CATALOGUE], manifest),
        turns=TurnLog(documents[TURNS]), conversations=Conversations(documents[CONVERSATIONS]),
        rollups=TurnRollups(documents[TURNS], documents[ROLLUPS]), queues=make_poison_queues(config),
        functions=make_functions(config), qna=make_publisher(config),
        training=make_training(config.storage, config.training_store, config.nlu_registry), documents=documents)


def services() -> AdminServices:
    return current_app.extensions["switchboard"]
