"""The ledger in Redis, for a fleet of workers on several hosts (`JobStore`, `swapkit[redis]`).

    client = SwapClient(ledger="redis://redis.internal:6379/0")

The same facts as `SqliteLedger` (see `swapkit.core.ledger`), under keys namespaced by
``namespace`` (default ``swapkit``), so several deployments can share one server:

* ``{ns}:job:{id}`` a hash: ``record`` (the JSON record), ``owner`` and ``state``, kept as
  fields of their own so that `take_over` compares and sets the owner atomically without
  decoding JSON in Lua;
* ``{ns}:idem:{key}`` the job holding an idempotency key (``SET NX``: the first claim wins);
* ``{ns}:jobs`` and ``{ns}:state:{state}`` sorted sets of job ids by last update, for `list`
  and `purge`;
* ``{ns}:lease:{id}`` the worker advancing a job, with a Redis expiry (leases are real time);
* ``{ns}:delivery:{id}`` webhook deliveries seen (kept a week);
* ``{ns}:secret`` the per-install secret that keys request digests (set once).

Every verb that two workers may race on is one Lua script (atomic on the server).  There is no
result folder: a fleet's results are fetched again from the vendor's URL by whoever waits, or
kept by the application (`folder` is None, so the result cache is off).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from swapkit.core.errors import ConfigurationError, LedgerUnavailable
from swapkit.core.ledger import FINAL_STATES, CacheEntry, JobRecord

__all__ = ["RedisJobStore"]

T = TypeVar("T")

_DELIVERY_SECONDS = 7 * 24 * 3600

# KEYS: job, idem (or ""), jobs index, state index; ARGV: record, owner, state, id, score
_CLAIM = """
if KEYS[2] ~= '' then
  if redis.call('SET', KEYS[2], ARGV[4], 'NX') == false then
    return redis.call('GET', KEYS[2])
  end
end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'owner', ARGV[2], 'state', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
return false
"""

# KEYS: job, jobs index; ARGV: record, owner, state, id, score, state-index prefix
_SAVE = """
local old = redis.call('HGET', KEYS[1], 'state')
if old then redis.call('ZREM', ARGV[6] .. old, ARGV[4]) end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'owner', ARGV[2], 'state', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('ZADD', ARGV[6] .. ARGV[3], ARGV[5], ARGV[4])
return 1
"""

# KEYS: job; ARGV: seen owner ('' for none), new owner
_TAKE_OVER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local owner = redis.call('HGET', KEYS[1], 'owner') or ''
if owner ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
return 1
"""

# KEYS: lease; ARGV: owner, milliseconds
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: lease; ARGV: owner
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """Redis's errors (an outage, a timeout) as `LedgerUnavailable`, never a bare exception."""

    @functools.wraps(method)
    def call(self: RedisJobStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except self._errors as exc:
            raise LedgerUnavailable(
                f"the Redis ledger ({self.namespace!r}) is unreachable: {type(exc).__name__}: "
                f"{str(exc)[:200]}"
            ) from None

    return call


def _redis_module() -> Any:
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            "a Redis ledger needs the redis package: pip install 'swapkit[redis]'"
        ) from None
    return redis


class RedisJobStore:
    """Job records in Redis (see the module docstring).

    Args:
        client: a ``redis.Redis`` client, or a ``redis://`` / ``rediss://`` URL.
        namespace: the prefix of every key.
    """

    def __init__(self, client: Any, *, namespace: str = "swapkit") -> None:
        redis = _redis_module()
        if isinstance(client, str):
            client = redis.Redis.from_url(client, socket_timeout=10, socket_connect_timeout=5)
        self._redis = client
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.namespace = namespace
        self._claim = client.register_script(_CLAIM)
        self._save = client.register_script(_SAVE)
        self._take_over = client.register_script(_TAKE_OVER)
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)
        self._secret: bytes | None = None

    def __repr__(self) -> str:
        return f"<RedisJobStore namespace={self.namespace!r}>"

    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    @property
    def folder(self) -> Path | None:
        return None

    def close(self) -> None:
        """Close the connections (the store is unusable afterwards)."""
        self._redis.close()

    @_translated
    def secret(self) -> bytes:
        if self._secret is None:
            key = self._key("secret")
            self._redis.set(key, secrets.token_hex(32), nx=True)
            self._secret = bytes.fromhex(_text(self._redis.get(key)))
        return self._secret

    def _arguments(self, record: JobRecord) -> list[Any]:
        return [
            json.dumps(dataclasses.asdict(record)),
            record.owner or "",
            record.state,
            record.id,
            record.updated_at,
        ]

    @_translated
    def claim(self, record: JobRecord) -> JobRecord:
        idem = self._key("idem", record.idempotency_key) if record.idempotency_key else ""
        keys = [
            self._key("job", record.id),
            idem,
            self._key("jobs"),
            self._key("state", record.state),
        ]
        holder = self._claim(keys=keys, args=self._arguments(record))
        if holder is None:
            return dataclasses.replace(record)
        existing = self.get(_text(holder))
        if existing is None:  # the holder was purged: its key no longer protects anything
            self._redis.delete(idem)
            return self.claim(record)
        return existing

    @_translated
    def save(self, record: JobRecord) -> None:
        keys = [self._key("job", record.id), self._key("jobs")]
        self._save(keys=keys, args=[*self._arguments(record), self._key("state", "")])

    @_translated
    def get(self, job_id: str) -> JobRecord | None:
        return self._load(self._redis.hmget(self._key("job", job_id), "record", "owner"))

    @staticmethod
    def _load(fields: Any) -> JobRecord | None:
        record, owner = fields
        if record is None:
            return None
        values = json.loads(record)
        values["owner"] = _text(owner) or None
        return JobRecord(**values)

    @_translated
    def take_over(self, job_id: str, seen_owner: str | None, owner: str) -> bool:
        keys = [self._key("job", job_id)]
        return bool(self._take_over(keys=keys, args=[seen_owner or "", owner]))

    @_translated
    def lease(self, job_id: str, owner: str, seconds: float) -> bool:
        milliseconds = max(1, int(seconds * 1000))
        return bool(self._lease(keys=[self._key("lease", job_id)], args=[owner, milliseconds]))

    @_translated
    def release_lease(self, job_id: str, owner: str) -> None:
        self._release(keys=[self._key("lease", job_id)], args=[owner])

    @_translated
    def lease_holder(self, job_id: str) -> str | None:
        holder = self._redis.get(self._key("lease", job_id))
        return None if holder is None else _text(holder)

    @_translated
    def list(self, state: str | None = None, limit: int = 50) -> list[JobRecord]:
        index = self._key("state", state) if state is not None else self._key("jobs")
        ids = [_text(found) for found in self._redis.zrevrange(index, 0, max(limit, 1) - 1)]
        pipe = self._redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self._key("job", job_id), "record", "owner")
        records = [self._load(fields) for fields in pipe.execute()]
        return [record for record in records if record is not None]

    @_translated
    def purge(self, older_than: float) -> int:
        ids = [
            _text(found)
            for found in self._redis.zrangebyscore(self._key("jobs"), "-inf", older_than)
        ]
        removed = 0
        for job_id in ids:
            record = self.get(job_id)
            if record is None or record.state not in FINAL_STATES:
                continue
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self._key("job", job_id), self._key("lease", job_id))
            pipe.zrem(self._key("jobs"), job_id)
            pipe.zrem(self._key("state", record.state), job_id)
            if record.idempotency_key:
                pipe.delete(self._key("idem", record.idempotency_key))
            pipe.execute()
            removed += 1
        return removed

    @_translated
    def claim_delivery(self, delivery_id: str, job_id: str) -> bool:
        key = self._key("delivery", delivery_id)
        return bool(self._redis.set(key, job_id, nx=True, ex=_DELIVERY_SECONDS))

    @_translated
    def cache_get(self, request_key: str) -> CacheEntry | None:
        found = self._redis.get(self._key("cache", request_key))
        return CacheEntry(**json.loads(found)) if found else None

    @_translated
    def cache_put(self, entry: CacheEntry) -> None:
        self._redis.set(
            self._key("cache", entry.request_key), json.dumps(dataclasses.asdict(entry))
        )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
