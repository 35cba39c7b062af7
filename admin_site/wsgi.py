"""gunicorn entry point: `gunicorn -c admin_site/gunicorn.conf.py admin_site.wsgi:app`."""
from admin_site import create_app

app = create_app()
