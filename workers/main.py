"""Entry point for the Celery command line: ``celery -A workers.main worker``."""

from app import create_app
from config import ConfigurationError

try:
    flask_app = create_app()
except ConfigurationError as exc:
    # The operator needs the message naming the setting, not a traceback.
    raise SystemExit(f"Error: {exc.message}") from None
celery = flask_app.extensions["celery"]
