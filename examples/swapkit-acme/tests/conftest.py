"""Fixtures shared by the example's tests: no retry waits, one fake clock, a sandbox on it.

The sandbox mounts the Acme emulator and the built-in Prospolabs one only, and the clients use
a plugin manager with the built-ins plus this package's provider, registered by hand: what else
happens to be installed on the machine never leaks into a test (test_packaging.py checks the
entry points themselves).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pluggy
import pytest
import stamina
from swapkit.core.plugins import make_plugin_manager
from swapkit.sandbox import BUILTIN_VENDORS
from swapkit.testing import FakeClock

from swapkit_acme import provider
from swapkit_acme.emulator import AcmeVendor

#: The emulators the sandbox mounts: the built-in ones, then Acme's.
VENDORS = (*BUILTIN_VENDORS, AcmeVendor)
#: How long every sandbox job takes, in (fake) seconds.
JOB_SECONDS = 5.0


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Retries happen without waiting, and a submit is tried once (stamina's testing switch)."""
    with stamina.set_testing(True, attempts=1):
        yield


@pytest.fixture
def clock() -> FakeClock:
    """The clock the client and the sandbox share: polls and deadlines cost no real time."""
    return FakeClock()


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock) -> dict[str, Any]:
    """The arguments of swapkit's `swapkit_sandbox` fixture: jobs of five fake seconds."""
    return {"clock": clock, "job_seconds": JOB_SECONDS, "vendors": VENDORS}


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """The built-in providers plus Acme's, without loading any installed entry point."""
    return make_plugin_manager(entry_points=False, plugins=[provider])
