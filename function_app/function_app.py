"""Composition root: validate the settings, configure telemetry, register every Blueprint in blueprints/.

One file per function: a new file in blueprints/ is registered without touching this one.
"""
import azure.functions as func

import blueprints
from core.settings import get_settings
from core.telemetry import SERVICE
from switchboard import telemetry

settings = get_settings()
telemetry.configure(SERVICE, connection=settings.appinsights_connection, always_trace=True)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
blueprints.register_all(app)
