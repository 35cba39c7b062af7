"""The HTTP transport of the Azure SDK clients (Cosmos DB, Storage queues).

By default `requests` re-reads the proxy variables and ~/.netrc on every call: about 45 % of the
CPU of a Cosmos DB point read here, in a function app that makes some fifteen such calls per turn.
Environment settings are only honoured when a proxy is actually configured.
"""
from __future__ import annotations

import os

from azure.core.pipeline.transport import RequestsTransport

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def azure_transport() -> RequestsTransport:
    return RequestsTransport(use_env_settings=any(os.environ.get(v) for v in PROXY_VARIABLES))
