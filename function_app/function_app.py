"""Composition root: validate the settings, configure telemetry, register one Blueprint per function."""
import azure.functions as func

from blueprints import (agent_release, deliver, faq, fallback, goodbye, greeting, human_handoff,
                        order_status, product_search, sendbird_webhook, understand, webchat_messages)
from core import telemetry
from core.settings import Settings

settings = Settings.from_env()
telemetry.configure(settings.appinsights_connection)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (sendbird_webhook, webchat_messages, agent_release, understand, deliver,
                  greeting, goodbye, order_status, product_search, faq, human_handoff, fallback):
    app.register_functions(blueprint.bp)
