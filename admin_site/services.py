"""The admin site's resources, built once per process from the config and kept on the app
(`current_app.extensions["switchboard"]`), as the Flask tutorial's db.py keeps its connection."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from flask import current_app

from admin_site.accounts import THROTTLE, USERS, Accounts
from admin_site.audit import AUDIT, AuditLog
from admin_site.catalogue import CATALOGUE, CatalogueStore
from admin_site.config import Config
from admin_site.documents import CosmosDocuments, Documents, MemoryDocuments
from admin_site.functions_api import make_functions
from admin_site.qna_publish import make_publisher
from admin_site.queues import make_queues
from core.cosmos import CONVERSATIONS, OUTBOX, TURNS, open_database, translated
from nlu.training import Training, make_training

# container -> partition key: the admin site's own, and the function app's that it reads
CONTAINERS = {CATALOGUE: "/kind", USERS: "/id", THROTTLE: "/id", AUDIT: "/day", "rollups": "/kind",
              TURNS: "/conversation_id", CONVERSATIONS: "/id", OUTBOX: "/conversation_id"}


@dataclass
class Services:
    config: Config
    accounts: Accounts
    audit: AuditLog
    catalogue: CatalogueStore
    documents: dict[str, Documents]  # every container by name, for the pages that read the turn log
    queues: Any = None  # admin_site.queues: the poison queues
    functions: Any = None  # admin_site.functions_api: agent replies and release
    qna: Any = None  # admin_site.qna_publish: publishing QnA pairs
    training: Training | None = None  # nlu.training: the registry, training jobs and their queue


def build(config: Config) -> Services:
    if config.cosmos_endpoint:
        with translated(f"opening database {config.cosmos_database}"):
            database = open_database(config.cosmos_endpoint, config.cosmos_key, config.cosmos_database)
        make: Callable[[str, str], Documents] = lambda name, key: CosmosDocuments(database, name, key)  # noqa: E731
    else:
        make = MemoryDocuments
    documents = {name: make(name, key) for name, key in CONTAINERS.items()}
    return Services(config=config, accounts=Accounts(documents[USERS], documents[THROTTLE]),
                    audit=AuditLog(documents[AUDIT]), catalogue=CatalogueStore(documents[CATALOGUE]),
                    documents=documents, queues=make_queues(config), functions=make_functions(config),
                    qna=make_publisher(config),
                    training=make_training(config.storage, config.training_store, config.nlu_registry))


def services() -> Services:
    return current_app.extensions["switchboard"]
