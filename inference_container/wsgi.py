"""gunicorn entry point: `gunicorn -c inference_container/gunicorn.conf.py inference_container.wsgi:app`."""
from .app import create_app

app = create_app()
