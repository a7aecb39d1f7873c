"""gunicorn settings for ``make run`` and production (``gunicorn -c config/gunicorn.py``).

The access log is off: the app writes its own, which records the URL pattern,
never the client address or the filled-in path (see app/logging.py).
"""

import os

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
wsgi_app = "app.wsgi:application"
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000
