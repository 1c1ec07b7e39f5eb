"""Fixtures for the farm tests (helpers live in farm_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from farm_helpers import base_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Subprocess environment: this framefill on PYTHONPATH, a temporary HOME, no AWS config."""
    return base_env(tmp_path)
