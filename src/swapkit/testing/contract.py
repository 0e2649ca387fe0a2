"""The provider contract: what the router relies on, proved against the vendor's emulator.

A provider plugin subclasses `ProviderContract` in its own tests, names its provider, and
pytest runs every check with the blocking and the async client against the plugin's emulator
mounted in the sandbox (from the ``swapkit.sandbox`` entry point, or `vendors`)::

    from swapkit.testing.contract import ProviderContract

    class TestAcmeContract(ProviderContract):
        provider = "acme"

The checks, each on the sandbox's fake clock:

- the capabilities match the methods the class implements (`check_provider_class`);
- a swap succeeds, its result is a real image of the size reported, and its cost is honest;
- an async job is polled until it is done (for providers that declare ``"async"``);
- a missing key fails before any request, a wrong one is an `AuthenticationError`;
- error answers are classified: 401, 429, 5xx and a failed job become the right swapkit errors,
  never a bare exception, and refused requests are not charged;
- a submit whose answer was lost is never sent again (`OutcomeUnknown`);
- a job that never finishes ends at the deadline;
- a truncated answer never becomes a result.

Override `swap_fields` when the vendor needs another kind of request (a template, a prompt),
`submit_path` when the submit is not the provider's first ``POST`` (an upload comes first), and
`settings` for extra provider settings.  The four built-in providers pass this suite
(tests/test_contracts.py).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

if TYPE_CHECKING:
    import pluggy

    from swapkit.core.models import SwapResult
    from swapkit.core.provider import Provider
    from swapkit.sandbox.server import SandboxServer
    from swapkit.testing.clock import FakeClock

__all__ = ["ProviderContract"]

_JOB_SECONDS = 5.0


class ProviderContract:
    """Base class of a provider's contract tests (see the module docstring)."""

    #: The provider's registered name.
    provider: ClassVar[str]
    #: The emulator's name in the sandbox (default: the provider's name).
    emulator: ClassVar[str | None] = None
    #: Extra provider settings for every swap.
    settings: ClassVar[dict[str, Any]] = {}
    #: A glob of the submit's path at the emulator (default: the provider's first ``POST``).
    submit_path: ClassVar[str | None] = None
    #: Sandbox vendor classes to mount (default: every installed emulator).
    vendors: ClassVar[tuple[type, ...] | None] = None

    # -- what a subclass may override --------------------------------------------------------

    def swap_fields(self) -> dict[str, Any]:
        """The request every check sends: the sandbox's sample face into its sample scene."""
        from swapkit.sandbox.samples import sample_face, sample_scene

        return {"source": sample_face(), "target": sample_scene()}

    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager the clients use: built-ins plus installed plugins."""
        from swapkit.core.plugins import make_plugin_manager

        return make_plugin_manager()

    # -- fixtures ----------------------------------------------------------------------------

    @pytest.fixture(params=["sync", "async"])
    def contract_kind(self, request: pytest.FixtureRequest) -> str:
        """Which client runs the check."""
        return str(request.param)

    @pytest.fixture
    def contract_clock(self) -> FakeClock:
        """The clock the client and the sandbox share."""
        from swapkit.testing.clock import FakeClock

        return FakeClock()

    @pytest.fixture
    def swapkit_sandbox_config(self, contract_clock: FakeClock) -> dict[str, Any]:
        config: dict[str, Any] = {"clock": contract_clock, "job_seconds": _JOB_SECONDS}
        if self.vendors is not None:
            config["vendors"] = self.vendors
        return config

    @pytest.fixture
    def contract_server(self, swapkit_sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
        """The served sandbox with the emulator mounted."""
        import stamina

        name = self._emulator
        if name not in swapkit_sandbox_server.sandbox.vendors:
            mounted = ", ".join(swapkit_sandbox_server.sandbox.vendors)
            pytest.fail(
                f"the sandbox has no emulator named {name!r} (mounted: {mounted}); install the "
                "plugin's swapkit.sandbox entry point, or set `vendors` / `emulator`"
            )
        stamina.set_testing(True, attempts=1)
        yield swapkit_sandbox_server
        stamina.set_testing(False)

    # -- helpers -----------------------------------------------------------------------------

    @property
    def _emulator(self) -> str:
        return self.emulator or self.provider

    def _settings(self, server: SandboxServer, **overrides: Any) -> dict[str, Any]:
        vendor = server.sandbox.vendors[self._emulator]
        return {
            "api_key": vendor.default_api_keys[0],
            "base_url": server.base_url(self._emulator),
            **self.settings,
            **overrides,
        }

    def _swap(
        self,
        kind: str,
        server: SandboxServer,
        clock: FakeClock,
        settings: dict[str, Any] | None = None,
        **client: Any,
    ) -> SwapResult:
        from swapkit import AsyncSwapClient, SwapClient

        options: dict[str, Any] = {
            "providers": {self.provider: settings or self._settings(server)},
            "clock": clock,
            "plugin_manager": self.plugin_manager(),
            "circuit_breaker": False,
            **client,
        }
        fields = self.swap_fields()
        if kind == "sync":
            with SwapClient(**options) as sync_client:
                return sync_client.swap(**fields)

        async def go() -> SwapResult:
            async with AsyncSwapClient(**options) as async_client:
                return await async_client.swap(**fields)

        return asyncio.run(go())

    def _requests(self, server: SandboxServer) -> list[Any]:
        prefix = f"/{self._emulator}/"
        return [r for r in server.sandbox.requests if r.path.startswith(prefix)]

    def _submits(self, server: SandboxServer) -> list[Any]:
        import fnmatch

        prefix = f"/{self._emulator}"
        posts = [r for r in self._requests(server) if r.method == "POST"]
        if self.submit_path is None:
            return posts[:1] if posts else []
        return [r for r in posts if fnmatch.fnmatchcase(r.path[len(prefix) :], self.submit_path)]

    def _fault(self, server: SandboxServer, **fields: Any) -> None:
        from swapkit.sandbox import Fault

        server.sandbox.faults.add(Fault(provider=self._emulator, **fields))

    def _provider_class(self) -> type[Provider]:
        from swapkit.core.plugins import installed_providers

        installed = installed_providers(self.plugin_manager())
        if self.provider not in installed:
            pytest.fail(f"no provider named {self.provider!r} is registered")
        return installed[self.provider]

    # -- the checks --------------------------------------------------------------------------

    def test_capabilities_match_the_methods(self) -> None:
        from swapkit.provider import check_provider_class

        check_provider_class(self._provider_class())

    def test_a_swap_returns_a_checked_result_and_an_honest_cost(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from PIL import Image

        result = self._swap(contract_kind, contract_server, contract_clock)
        assert result.provider == self.provider
        with Image.open(io.BytesIO(result.image)) as image:
            assert image.size == (result.width, result.height)
        final = result.attempts[-1]
        assert final.charged is not False, "a paid result must be recorded as charged"
        if final.cost_usd is not None:
            assert result.spent_usd == pytest.approx(sum(a.cost_usd or 0 for a in result.attempts))

    def test_an_async_job_is_polled_until_done(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        capabilities = self._provider_class().capabilities
        if "async" not in capabilities.modes:
            pytest.skip(f"{self.provider} has no async jobs")
        start = contract_clock.monotonic()
        settings = self._settings(contract_server, mode="async")
        result = self._swap(contract_kind, contract_server, contract_clock, settings)
        assert result.image
        assert contract_clock.monotonic() - start >= _JOB_SECONDS, "it did not wait for the job"
        assert len(self._submits(contract_server)) == 1
        assert len(self._requests(contract_server)) >= 2, "the job was never polled"

    def test_a_missing_key_fails_before_any_request(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from swapkit import errors

        settings = self._settings(contract_server)
        settings.pop("api_key")
        with pytest.raises(errors.SwapError) as caught:
            self._swap(contract_kind, contract_server, contract_clock, settings)
        assert "key" in str(caught.value).lower()
        assert self._requests(contract_server) == []

    def test_a_wrong_key_is_an_authentication_error(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from swapkit import errors

        settings = self._settings(contract_server, api_key="not-the-key-0000")
        with pytest.raises(errors.SwapError) as caught:
            self._swap(contract_kind, contract_server, contract_clock, settings)
        assert _cause(caught.value, errors.AuthenticationError), caught.value
        assert caught.value.spent_usd == 0

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            (401, "AuthenticationError"),
            (429, "RateLimited"),
            (500, "ProviderUnavailable"),
            (503, "ProviderUnavailable"),
        ],
    )
    def test_error_answers_are_classified_and_not_charged(
        self,
        contract_kind: str,
        contract_server: SandboxServer,
        contract_clock: FakeClock,
        status: int,
        expected: str,
    ) -> None:
        from swapkit import errors

        self._fault(contract_server, status=status)
        with pytest.raises(errors.SwapError) as caught:
            self._swap(contract_kind, contract_server, contract_clock)
        assert _cause(caught.value, getattr(errors, expected)), caught.value
        assert caught.value.spent_usd == 0

    def test_a_failed_job_is_a_typed_error(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from swapkit import errors

        self._fault(contract_server, kind="job_failed")
        with pytest.raises(errors.SwapError) as caught:
            self._swap(contract_kind, contract_server, contract_clock)
        assert _cause(caught.value, errors.ProviderError), caught.value
        assert len(self._submits(contract_server)) == 1

    def test_a_lost_answer_to_a_submit_is_not_sent_again(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from swapkit import errors

        self._fault(
            contract_server,
            kind="drop",
            after_processing=True,
            method="POST",
            path=self.submit_path,
            times=1,
        )
        with pytest.raises(errors.OutcomeUnknown):
            self._swap(contract_kind, contract_server, contract_clock)
        assert len(self._submits(contract_server)) == 1

    def test_a_job_that_never_finishes_ends_at_the_deadline(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from swapkit import errors

        if "async" not in self._provider_class().capabilities.modes:
            pytest.skip(f"{self.provider} has no async jobs")
        self._fault(contract_server, kind="never_finish")
        deadline = 60.0
        start = contract_clock.monotonic()
        settings = self._settings(contract_server, mode="async")
        with pytest.raises(errors.SwapError) as caught:
            self._swap(contract_kind, contract_server, contract_clock, settings, deadline=deadline)
        assert _cause(caught.value, errors.ProviderTimeout), caught.value
        assert contract_clock.monotonic() - start <= deadline + 1.0
        assert len(self._submits(contract_server)) == 1

    def test_a_truncated_answer_never_becomes_a_result(
        self, contract_kind: str, contract_server: SandboxServer, contract_clock: FakeClock
    ) -> None:
        from swapkit import errors

        self._fault(contract_server, kind="truncated")
        with pytest.raises(errors.SwapError) as caught:
            self._swap(contract_kind, contract_server, contract_clock, deadline=60.0)
        assert _cause(caught.value, errors.ResultInvalid, errors.OutcomeUnknown), caught.value


def _cause(error: BaseException, *classes: type[BaseException]) -> bool:
    """Whether `error` is one of `classes`, or `AllProvidersFailed` over an attempt that was."""
    if isinstance(error, classes):
        return True
    attempts = getattr(error, "attempts", None) or ()
    return any(isinstance(attempt.error, classes) for attempt in attempts)
