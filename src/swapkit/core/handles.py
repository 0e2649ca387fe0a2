"""`SwapJob` and `AsyncSwapJob`: handles on submitted swaps (see `swapkit.core.jobs`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from swapkit.core.errors import ConfigurationError, JobStillRunning
from swapkit.core.flow import Finish
from swapkit.core.jobflow import settle_flow, token_flow
from swapkit.core.jobs import JobStatus, JobToken
from swapkit.core.models import SwapResult

if TYPE_CHECKING:
    from swapkit.core.client import AsyncSwapClient, SwapClient, _BaseClient

__all__ = ["AsyncSwapJob", "SwapJob"]


def _timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise ConfigurationError(
            f"timeout must be None or a number of seconds >= 0, not {timeout!r}"
        )
    return float(timeout) if math.isfinite(timeout) else None


class _JobBase:
    def __init__(
        self,
        client: _BaseClient,
        job_id: str,
        *,
        token: JobToken | None = None,
        result: SwapResult | None = None,
    ) -> None:
        self._client = client
        self._id = job_id
        self._token = token
        self._result = result

    @property
    def id(self) -> str:
        """swapkit's id for the job (``swp_…``), stable across retries, failover and processes."""
        return self._id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._id}>"

    def status(self) -> JobStatus:
        """Where the job stands, as recorded (no network call)."""
        record = self._client._store.get(self._id)
        if record is not None:
            return JobStatus.of(record)
        if self._result is not None:
            return JobStatus(self._id, "succeeded", self._result.provider, self._result.job_id)
        token = self._token
        assert token is not None
        return JobStatus(self._id, "running", token.provider, token.vendor_job_id)

    def to_token(self) -> str:
        """A compact string from which `client.job(token)` rebuilds this handle anywhere, with
        no ledger: the provider, the vendor's job id and model, the deadline and what finishing
        needs.  No key, no image, no signed URL."""
        if self._token is not None:
            return self._token.encode()
        record = self._client._store.get(self._id)
        if record is None or not record.vendor_job_id or not record.provider:
            state = record.state if record is not None else "finished"
            raise JobStillRunning(
                f"job {self._id} has no vendor job to point at yet ({state})", job_id=self._id
            )
        finish = Finish(**(record.request.get("finish") or {}))
        token = JobToken(
            id=record.id,
            provider=record.provider,
            vendor_job_id=record.vendor_job_id,
            model=record.model,
            deadline_at=record.deadline_at,
            finish=finish,
        )
        return token.encode()

    def _flow(self, timeout: float | None):  # type: ignore[no-untyped-def]
        if self._client._store.get(self._id) is None and self._token is not None:
            return token_flow(self._client._job_context(), self._token, timeout)
        return settle_flow(self._client._job_context(), self._id, timeout=timeout)


class SwapJob(_JobBase):
    """A submitted swap (`SwapClient.submit`, `SwapClient.job`)."""

    _client: SwapClient

    def wait(self, timeout: float | None = None) -> SwapResult:
        """The swap's result, waiting (polling the vendor, for free) until it is done.

        `timeout` bounds this wait only: when it passes, `JobStillRunning` is raised and the job
        goes on.  It never cancels the job.  The job's own deadline still applies.
        """
        if self._result is not None:
            return self._result
        result = self._client._drive(self._flow(_timeout(timeout)))
        self._result = result
        return result  # type: ignore[no-any-return]

    def result(self) -> SwapResult:
        """The result of a finished job (`JobStillRunning` while it runs); no waiting."""
        return self.wait(timeout=0)


class AsyncSwapJob(_JobBase):
    """A submitted swap (`AsyncSwapClient.submit`, `AsyncSwapClient.job`)."""

    _client: AsyncSwapClient

    async def wait(self, timeout: float | None = None) -> SwapResult:
        """The swap's result; see `SwapJob.wait`."""
        if self._result is not None:
            return self._result
        result = await self._client._drive(self._flow(_timeout(timeout)))
        self._result = result
        return result  # type: ignore[no-any-return]

    async def result(self) -> SwapResult:
        """The result of a finished job; see `SwapJob.result`."""
        return await self.wait(timeout=0)
