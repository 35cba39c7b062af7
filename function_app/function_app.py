"""Composition root: validate the settings, configure telemetry, register every Blueprint in blueprints/.

One file per function: a new file in blueprints/ is registered without touching this one.
"""
import importlib
import pkgutil

import azure.functions as func

import blueprints
from core import telemetry
from core.settings import get_settings

settings = get_settings()
telemetry.configure(settings.appinsights_connection)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for module in sorted(m.name for m in pkgutil.iter_modules(blueprints.__path__)):
    app.register_functions(importlib.import_module(f"blueprints.{module}").bp)
