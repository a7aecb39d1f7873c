"""Settings, one class per environment, read from the environment at start-up."""

from __future__ import annotations

import os

from config.base import BaseConfig, ConfigurationError
from config.development import DevelopmentConfig
from config.production import ProductionConfig
from config.testing import TestingConfig

ENVIRONMENTS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

__all__ = ["ConfigurationError", "ENVIRONMENTS", "load_config"]


def load_config(name: str | None = None, environ: dict[str, str] | None = None) -> BaseConfig:
    """Build the settings for ``name`` (default: ``SAFE_REPORT_ENV``, else development)."""
    environ = dict(os.environ if environ is None else environ)
    name = name or environ.get("SAFE_REPORT_ENV") or "development"
    try:
        cls = ENVIRONMENTS[name]
    except KeyError:
        raise ConfigurationError(
            f"SAFE_REPORT_ENV={name!r} is not one of: {', '.join(sorted(ENVIRONMENTS))}"
        ) from None
    return cls(environ)
