"""swapkit's test kit: what an application (or a provider plugin) needs to test its swapkit code.

- Cassettes: `vcr_config()` scrubs every credential, stores images as digests and
  canonicalises loopback URLs (`swapkit.testing.cassettes`); the pytest plugin serves it as the
  ``vcr_config`` fixture for pytest-recording.
- `FakeClock`: polls, back-off and deadlines without waiting, shared with the sandbox.
- `mock_provider(...)`: a vendor scripted step by step (`accepted`, `running`, `succeeded`,
  `failed`, `http_error`, `lost`, …) run through the real engine (`swapkit.testing.mock`).
- `sample_face()` / `sample_scene()`: small images the sandbox finds a face in.
- `swapkit.testing.contract`: the contract suite a provider plugin runs against its emulator.

The pytest plugin (loaded automatically with swapkit installed) adds the fixtures
``vcr_config``, ``swapkit_clock``, ``swapkit_face``, ``swapkit_scene`` and ``mock_provider``
beside the sandbox's ``swapkit_sandbox`` and ``swapkit_sandbox_server``.  See docs/testing.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swapkit.sandbox.samples import sample_face, sample_scene
    from swapkit.testing.cassettes import configure, vcr_config
    from swapkit.testing.clock import FakeClock
    from swapkit.testing.mock import (
        MockProvider,
        MockStep,
        accepted,
        failed,
        http_error,
        lost,
        malformed,
        mock_provider,
        running,
        succeeded,
        unreachable,
    )

# Lazy (PEP 562): the pytest plugin imports this package in every test run of an application.
_HOMES = {
    "FakeClock": "swapkit.testing.clock",
    "MockProvider": "swapkit.testing.mock",
    "MockStep": "swapkit.testing.mock",
    "accepted": "swapkit.testing.mock",
    "configure": "swapkit.testing.cassettes",
    "failed": "swapkit.testing.mock",
    "http_error": "swapkit.testing.mock",
    "lost": "swapkit.testing.mock",
    "malformed": "swapkit.testing.mock",
    "mock_provider": "swapkit.testing.mock",
    "running": "swapkit.testing.mock",
    "sample_face": "swapkit.sandbox.samples",
    "sample_scene": "swapkit.sandbox.samples",
    "succeeded": "swapkit.testing.mock",
    "unreachable": "swapkit.testing.mock",
    "vcr_config": "swapkit.testing.cassettes",
}

__all__ = [
    "FakeClock",
    "MockProvider",
    "MockStep",
    "accepted",
    "configure",
    "failed",
    "http_error",
    "lost",
    "malformed",
    "mock_provider",
    "running",
    "sample_face",
    "sample_scene",
    "succeeded",
    "unreachable",
    "vcr_config",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
