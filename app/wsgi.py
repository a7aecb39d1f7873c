"""WSGI entry point: ``gunicorn app.wsgi:application``."""

from app import create_app
from config import ConfigurationError

try:
    application = create_app()
except ConfigurationError as exc:
    # The operator needs the message naming the setting, not a traceback.
    raise SystemExit(f"Error: {exc.message}") from None
