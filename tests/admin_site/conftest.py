"""The admin site built from a test config: in-memory stores (or Cosmos DB, where a test asks), a
user of each role, and a client that logs in and carries the CSRF token as the pages do."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from admin_site import create_app
from admin_site.accounts import ROLES, Accounts
from admin_site.services import build
from adminclient import PASSWORD, Client, make_settings
from switchboard.cosmos import THROTTLE, USERS

# Argon2 at its lowest cost: the tests check the behaviour, not the hash's strength (production keeps
# argon2-cffi's defaults).
FAST_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def services():
    svc = build(make_settings())
    svc.accounts = Accounts(svc.documents[USERS], svc.documents[THROTTLE], hasher=FAST_HASH)
    for role in ROLES:
        svc.accounts.create(role, role, PASSWORD, by="test")  # a user named after each role
    return svc


@pytest.fixture
def app(services):
    return create_app(services=services)


@pytest.fixture
def client_as(app):
    return lambda name=None: Client(app, name)
