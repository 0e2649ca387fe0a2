"""The ``vcr_config`` fixture, registered by `swapkit.testing.pytest_plugin` when pytest is
configured: after every entry-point plugin, so that it takes precedence over pytest-recording's
empty default, while a ``vcr_config`` in the project's own conftest still wins."""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["vcr_config"]


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    """swapkit's cassette configuration (`swapkit.testing.cassettes.vcr_config`)."""
    from swapkit.testing.cassettes import vcr_config as config

    return config()
