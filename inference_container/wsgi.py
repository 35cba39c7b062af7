"""gunicorn entry point: `gunicorn -c inference_container/gunicorn.conf.py inference_container.wsgi:app`."""
from switchboard import telemetry

from .app import create_app

telemetry.configure("switchboard-nlu")
app = telemetry.instrument_app(create_app())
