"""gunicorn settings for the NLU service; every value can be overridden from the environment."""
import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# gevent: the lowest latency per request (bench/results/serving.json); gthread: steadier tails
# when one worker takes many concurrent connections.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread only
keepalive = 75
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
