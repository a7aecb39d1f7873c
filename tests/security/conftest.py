"""Fixtures of the security regression tests: the casework world and the student side."""

from __future__ import annotations

from tests.cases.conftest import as_staff, new_case, world  # noqa: F401
from tests.reporting.conftest import new_client, school  # noqa: F401
