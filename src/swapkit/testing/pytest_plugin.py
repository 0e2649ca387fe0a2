"""pytest fixtures of swapkit's test kit (loaded through the ``pytest11`` entry point).

- ``vcr_config``: `swapkit.testing.cassettes.vcr_config()` for pytest-recording, so a cassette
  of a swapkit call holds no key, no image bytes and no loopback port.  It takes precedence over
  pytest-recording's empty default and yields to a ``vcr_config`` fixture in the project's own
  conftest (which can extend it: ``{**swapkit.testing.vcr_config(), ...}``).
- ``swapkit_clock``: a fresh `swapkit.testing.FakeClock`, for the client and the sandbox.
- ``swapkit_face`` / ``swapkit_scene``: paths to small PNGs the sandbox finds a face in.
- ``mock_provider``: `swapkit.testing.mock_provider`, failing the test at teardown when a
  mock got a request it had no step for, or kept steps it never used.

Import cost: loaded into every pytest run of a project with swapkit installed, so it imports
only pytest at load; swapkit itself is imported when a fixture is first used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from swapkit.testing.clock import FakeClock
    from swapkit.testing.mock import MockProvider

__all__ = [
    "mock_provider",
    "pytest_configure",
    "pytest_recording_configure",
    "swapkit_clock",
    "swapkit_face",
    "swapkit_scene",
]


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.get_plugin("swapkit-cassettes") is None:
        from swapkit.testing import _vcr_fixture

        config.pluginmanager.register(_vcr_fixture, "swapkit-cassettes")


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """Register the ``swapkit.yaml`` cassette serializer (pytest-recording calls this)."""
    from swapkit.testing.cassettes import SERIALIZER_NAME, CassetteSerializer

    vcr.register_serializer(SERIALIZER_NAME, CassetteSerializer)


@pytest.fixture
def swapkit_clock() -> FakeClock:
    """A fake clock: pass it as ``SwapClient(clock=...)`` and ``Sandbox(clock=...)``."""
    from swapkit.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def swapkit_face(tmp_path: Path) -> Path:
    """A 256x256 PNG of a drawn face, in the test's temporary directory."""
    from swapkit.sandbox.samples import sample_face

    path = tmp_path / "swapkit-face.png"
    path.write_bytes(sample_face())
    return path


@pytest.fixture
def swapkit_scene(tmp_path: Path) -> Path:
    """A 512x384 PNG of a figure in a landscape, in the test's temporary directory."""
    from swapkit.sandbox.samples import sample_scene

    path = tmp_path / "swapkit-scene.png"
    path.write_bytes(sample_scene())
    return path


@pytest.fixture
def mock_provider() -> Iterator[Callable[..., MockProvider]]:
    """`swapkit.testing.mock_provider`, checked at teardown: every request was scripted and
    every step was used (unless the test failed already)."""
    from swapkit.testing.mock import mock_provider as make

    made: list[MockProvider] = []

    def factory(*args: Any, **kwargs: Any) -> MockProvider:
        provider = make(*args, **kwargs)
        made.append(provider)
        return provider

    yield factory
    if sys.exc_info()[0] is not None:
        return
    problems = []
    for provider in made:
        for request in provider.unscripted:
            problems.append(f"{provider.name}: no step scripted for {request.method} {request.url}")
        if provider.remaining:
            kinds = ", ".join(step.kind for step in provider.remaining)
            problems.append(f"{provider.name}: scripted steps never used: {kinds}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
