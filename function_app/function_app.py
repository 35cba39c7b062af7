"""Composition root: validate the settings, configure telemetry, register every Blueprint in blueprints/.

One file per function: a new file in blueprints/ is registered without touching this one.
"""
import azure.functions as func

import blueprints
from core import telemetry
from core.settings import get_settings

settings = get_settings()
telemetry.configure(settings.appinsights_connection)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
blueprints.register_all(app)
