"""pytest fixtures for the swapkit sandbox (loaded through the `pytest11` entry point).

Fixtures (all opt-in, function-scoped, usable from sync and async tests):

- `swapkit_sandbox`: a fresh `Sandbox` for the test, closed afterwards. Its constructor arguments
  come from the `swapkit_sandbox_config` fixture (a dict, empty by default); override that
  fixture in a conftest or test module to configure it, e.g.
  `return {"clock": FakeClock(), "job_seconds": 5}`.
- `swapkit_sandbox_server`: that sandbox served on `127.0.0.1`, port 0; yields the running
  `SandboxServer` (`.url`, `.base_url(<vendor name>)`, `.sandbox`).

The sandbox mounts every installed vendor, plugin emulators (the `swapkit.sandbox` entry points)
included; `SWAPKIT_SANDBOX_DISABLE_PLUGINS=1`, or `{"vendors": BUILTIN_VENDORS}` from
`swapkit_sandbox_config`, leaves the plugins out.

Network blocking: pytest-recording's `--block-network` patches `socket.connect` for the duration
of each test, loopback included. For every test that uses one of these fixtures (directly or
through another fixture) while blocking is on, this plugin adds a `block_network` marker whose
`allowed_hosts` are the hosts already allowed by a `block_network` marker or `--allowed-hosts`,
plus the loopback addresses, so clients (and webhook deliveries) can reach the sandbox and
nothing else. The marker shadows `vcr_config()["allowed_hosts"]`; tests that rely on that
setting should list the loopback hosts there too (see `LOOPBACK_ALLOWED_HOSTS`).

Import cost: this module is loaded into every pytest run of a project with swapkit installed, so
it imports only pytest; the sandbox itself is imported when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from swapkit.sandbox.app import Sandbox
    from swapkit.sandbox.server import SandboxServer

__all__ = [
    "LOOPBACK_ALLOWED_HOSTS",
    "pytest_collection_modifyitems",
    "swapkit_sandbox",
    "swapkit_sandbox_config",
    "swapkit_sandbox_server",
]

LOOPBACK_ALLOWED_HOSTS = (r"127\.\d+\.\d+\.\d+$", r"::1$", r"localhost$")
"""pytest-recording `allowed_hosts` regexes that match the loopback addresses."""

_SANDBOX_FIXTURES = frozenset({"swapkit_sandbox", "swapkit_sandbox_server"})


def _network_blocked(item: pytest.Item) -> bool:
    if item.get_closest_marker("block_network") is not None:
        return True
    try:
        return bool(item.config.getoption("--block-network"))
    except ValueError:  # pytest-recording is not installed
        return False


def _already_allowed(item: pytest.Item) -> list[str]:
    marker = item.get_closest_marker("block_network")
    hosts: Any = marker.kwargs.get("allowed_hosts") if marker is not None else None
    if not hosts:
        try:
            hosts = item.config.getoption("--allowed-hosts")
        except ValueError:
            hosts = None
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    return list(hosts or [])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Let tests that use a sandbox fixture reach loopback under `--block-network`."""
    for item in items:
        fixturenames = getattr(item, "fixturenames", ())
        if not _SANDBOX_FIXTURES.intersection(fixturenames) or not _network_blocked(item):
            continue
        allowed = _already_allowed(item)
        allowed += [host for host in LOOPBACK_ALLOWED_HOSTS if host not in allowed]
        item.add_marker(pytest.mark.block_network(allowed_hosts=allowed), append=False)


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    """Keyword arguments for the `swapkit_sandbox` fixture's `Sandbox(...)`; override it."""
    return {}


@pytest.fixture
def swapkit_sandbox(swapkit_sandbox_config: dict[str, Any]) -> Iterator[Sandbox]:
    """A fresh `Sandbox` for this test (closed afterwards)."""
    from swapkit.sandbox.app import Sandbox

    with Sandbox(**swapkit_sandbox_config) as sandbox:
        yield sandbox


@pytest.fixture
def swapkit_sandbox_server(swapkit_sandbox: Sandbox) -> Iterator[SandboxServer]:
    """`swapkit_sandbox` served on 127.0.0.1 (a free port) for this test."""
    with swapkit_sandbox.serve() as server:
        yield server
