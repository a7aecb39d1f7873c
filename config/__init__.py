"""Settings, one class per environment, read from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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


def load_config(
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BaseConfig:
    """Build and check the settings for ``name`` (default: ``SAFE_REPORT_ENV``, else development).

    ``overrides`` (tests, tools) replace settings before the checks run, so a
    missing or malformed value fails here, naming the variable, never later.
    """
    environ = dict(os.environ if environ is None else environ)
    name = name or environ.get("SAFE_REPORT_ENV") or "development"
    try:
        cls = ENVIRONMENTS[name]
    except KeyError:
        raise ConfigurationError(
            f"SAFE_REPORT_ENV={name!r} is not one of: {', '.join(sorted(ENVIRONMENTS))}."
        ) from None
    settings = cls(environ)
    for key, value in (overrides or {}).items():
        setattr(settings, key, value)
    settings.finalise()
    settings.check_keys()
    return settings
