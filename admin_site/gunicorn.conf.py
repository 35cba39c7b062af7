"""gunicorn settings for the admin site; every value can be overridden from the environment."""
import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '7104')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
