"""Celery workers and beat, built from the Flask app factory."""
