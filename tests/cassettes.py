"""Cassette plumbing for swapkit's own cassette tests: where traffic goes, and the recording switch.

Scrubbing, canonical URLs, image digests and the ``swapkit`` serializer are the shipped ones
(`swapkit.testing.cassettes`, served by swapkit's pytest plugin as the ``vcr_config`` fixture),
so this suite records exactly as an application's would.  Cassettes live at
``tests/cassettes/<test_module>/<test_name>.yaml`` (pytest-recording's layout) and replay with
``--record-mode=none`` (the default in pyproject) and the network blocked.

Recording: ``pytest --record-mode=rewrite tests/test_prospolabs_cassettes.py`` records against
an in-process sandbox.  With ``SWAPKIT_RECORD_REAL=1`` and a real ``SWAPKIT_<NAME>_API_KEY`` it
records against the vendor itself (only the flows a real vendor can be made to produce).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .clock import FakeClock


def recording(config: pytest.Config) -> bool:
    """True when this run writes cassettes rather than replaying them."""
    return config.getoption("--record-mode") not in (None, "none")


#: The recording switches, read when pytest starts: the autouse fixture that hides the
#: machine's swapkit variables from tests runs before any cassette fixture could read them.
_RECORDING_ENV = {
    name: value
    for name, value in os.environ.items()
    if name == "SWAPKIT_RECORD_REAL"
    or (name.startswith("SWAPKIT_") and name.endswith(("_API_KEY", "_BASE_URL")))
}


class RealClock(FakeClock):
    """Real time, with the fake clock's record of sleeps (for recording against a vendor)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds)


class CassetteTarget:
    """Where a cassette test sends traffic (see `cassette_target`)."""

    def __init__(self, base_url: str | None, sandbox: Any, clock: FakeClock) -> None:
        self._base_url = base_url
        self.sandbox = sandbox
        self.clock = clock

    @property
    def real(self) -> bool:
        """True when recording against the real vendor."""
        return self._base_url == ""

    def settings(self, provider: str) -> dict[str, Any]:
        """Provider settings for this run: replay, sandbox recording or real recording."""
        if self._base_url is None:  # replay: nothing listens on port 9, vcrpy answers
            return {"api_key": "replay-key", "base_url": f"http://127.0.0.1:9/{provider}"}
        if self.real:  # the vendor itself, with the key given when pytest started
            prefix = f"SWAPKIT_{provider.upper()}_"
            return {
                name.removeprefix(prefix).lower(): value
                for name, value in _RECORDING_ENV.items()
                if name.startswith(prefix)
            }
        key = self.sandbox.vendors[provider].default_api_keys[0]
        return {"api_key": key, "base_url": f"{self._base_url}/{provider}"}

    def fault(self, **fields: Any) -> None:
        """Inject a sandbox fault; tests that need one are skipped against a real vendor."""
        if self.real:
            pytest.skip("needs the sandbox's fault injection")
        if self.sandbox is not None:
            from swapkit.sandbox import Fault

            self.sandbox.faults.add(Fault(**fields))


@pytest.fixture
def cassette_target(request: pytest.FixtureRequest) -> Iterator[CassetteTarget]:
    """Nowhere on replay; an in-process sandbox (on a fake clock) when recording; the real
    vendor when recording with ``SWAPKIT_RECORD_REAL=1``."""
    if not recording(request.config):
        yield CassetteTarget(None, None, FakeClock())
        return
    if _RECORDING_ENV.get("SWAPKIT_RECORD_REAL"):
        yield CassetteTarget("", None, RealClock())
        return
    from swapkit.sandbox import Sandbox

    clock = FakeClock()
    small = {"eventstation": {"result_scale": 0.05}}  # base64 results stay small when recording
    with (
        Sandbox(clock=clock.monotonic, job_seconds=5.0, vendor_options=small) as sandbox,
        sandbox.serve() as server,
    ):
        yield CassetteTarget(server.url, sandbox, clock)


@pytest.fixture
def cassette_swap(
    kind: str,
    cassette_target: CassetteTarget,
    plugin_manager: Any,
    request: pytest.FixtureRequest,
) -> Callable[..., Any]:
    """Swap through the test module's ``PROVIDER`` on the cassette target, with `kind`'s client.

    Keyword ``settings`` override the provider's settings; every other keyword is a swap field.
    """
    from .conftest import run_swap

    name = request.module.PROVIDER

    def run(settings: dict[str, Any] | None = None, **fields: Any) -> Any:
        provider = {**cassette_target.settings(name), **(settings or {})}
        client = {
            "providers": {name: provider},
            "clock": cassette_target.clock,
            "plugin_manager": plugin_manager,
        }
        return run_swap(kind, client, **fields)  # type: ignore[arg-type]

    return run
