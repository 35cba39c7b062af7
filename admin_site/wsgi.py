"""gunicorn entry point: `gunicorn -c admin_site/gunicorn.conf.py admin_site.wsgi:app`."""
from admin_site import create_app
from switchboard import telemetry

telemetry.configure("switchboard-admin")
app = telemetry.instrument_app(create_app())
