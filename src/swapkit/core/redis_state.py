"""`RedisStateStore`: the `StateStore` verbs on a Redis server, for a fleet of workers.

Install with ``pip install 'swapkit[redis]'`` (redis-py is imported only when a Redis store is
made).  Each verb that reads and writes is one Lua script, registered with redis-py's
``register_script`` (sent by digest, loaded again when the server forgot it), so it runs
atomically on the server; a read alone is one command.

Expiry is decided inside the scripts by comparing stored absolute times with ``now``, which the
caller passes in from the store's clock (wall-clock epoch seconds, or a test's fake clock).
Redis's own timers (``PEXPIRE``) only collect garbage: a key is kept for its ttl plus
`GC_GRACE_SECONDS` of real time, so it is never collected while the clock still calls it live.
The hosts of a fleet must therefore keep their clocks in step (NTP), as for any lease.

Keys are ``"{namespace}:{kind}:{key}"``, with kind one of ``claim`` (a hash: owner,
expires_at), ``value`` (a hash: version, value), ``permits`` (a sorted set of tokens by
expiry), ``rate`` (a sorted set of grants by time) and ``lease`` (a hash: owner, expires_at).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from swapkit.core.errors import ConfigurationError
from swapkit.core.state import UPDATE_ATTEMPTS, _encode, _limit, _positive, cas_update

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStateStore"]

#: Real seconds a key outlives its own expiry before Redis deletes it (garbage collection).
GC_GRACE_SECONDS = 60.0

# KEYS[1] the claim; ARGV: owner, now, expires_at ("" for never), gc milliseconds (0: none)
_CLAIM = """
local held = redis.call('HGET', KEYS[1], 'expires_at')
if held and (held == '' or tonumber(held) > tonumber(ARGV[2])) then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'expires_at', ARGV[3])
if ARGV[4] == '0' then redis.call('PERSIST', KEYS[1])
else redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1
"""

# KEYS[1] the value; ARGV: expected version, new value (JSON)
_COMPARE_AND_SET = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', tostring(version + 1), 'value', ARGV[2])
return 1
"""

# KEYS[1] the permits; ARGV: now, limit, token, expires_at, gc milliseconds
_ACQUIRE_PERMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 1
"""

# KEYS[1] the grants; ARGV: now, limit, window start (now - window), token, gc milliseconds;
# returns "" when granted, else the time of the oldest grant in the window
_TAKE_RATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return ''
end
return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
"""

# KEYS[1] the lease; ARGV: owner, now, expires_at, gc milliseconds
_LEASE = """
local held = redis.call('HMGET', KEYS[1], 'owner', 'expires_at')
if held[1] and held[1] ~= ARGV[1] and tonumber(held[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'expires_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1] the lease; ARGV: owner
_RELEASE_LEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


def _redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - the test extra installs it
        raise ConfigurationError(
            "a Redis state store needs redis-py: pip install 'swapkit[redis]'"
        ) from None
    return redis


def _number(value: float) -> str:
    """A time or a duration for a script, with every digit (``repr`` round-trips)."""
    return repr(float(value))


def _gc_milliseconds(seconds: float) -> str:
    return str(math.ceil((seconds + GC_GRACE_SECONDS) * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStateStore:
    """The `swapkit.core.state.StateStore` verbs on Redis (see the module docstring).

    `client` is a ``redis.Redis`` or a URL (``redis://host:6379/0``); from a URL the client
    gets short socket timeouts (`socket_timeout`), so that a server that stopped answering is
    noticed in seconds (wrap the store in `ResilientStateStore` to go on without it).
    """

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        namespace: str = "swapkit",
        clock: Callable[[], float] = time.time,
        socket_timeout: float = 2.0,
    ) -> None:
        module = _redis()
        self.client: redis.Redis = (
            module.Redis.from_url(
                client, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
            if isinstance(client, str)
            else client
        )
        self._namespace = namespace
        self.clock = clock
        #: What this store raises when the server cannot be reached or fails: a
        #: `ResilientStateStore` in front of it answers from local state then.
        self.outage_errors: tuple[type[Exception], ...] = (module.RedisError,)
        register = self.client.register_script
        self._claim = register(_CLAIM)
        self._compare_and_set = register(_COMPARE_AND_SET)
        self._acquire_permit = register(_ACQUIRE_PERMIT)
        self._take_rate = register(_TAKE_RATE)
        self._lease = register(_LEASE)
        self._release_lease = register(_RELEASE_LEASE)

    def __repr__(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"<RedisStateStore {where} namespace={self._namespace!r}>"

    @property
    def namespace(self) -> str:
        return self._namespace

    def now(self) -> float:
        return self.clock()

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def _key(self, kind: str, key: str) -> str:
        return f"{self._namespace}:{kind}:{key}"

    def claim(self, key: str, owner: str, ttl_seconds: float | None = None) -> bool:
        now = self.clock()
        if ttl_seconds is None:
            expires_at, gc = "", "0"
        else:
            _positive("ttl_seconds", ttl_seconds)
            expires_at, gc = _number(now + ttl_seconds), _gc_milliseconds(ttl_seconds)
        args = [owner, _number(now), expires_at, gc]
        won = self._claim(keys=[self._key("claim", key)], args=args)
        return bool(won)

    def read(self, key: str) -> tuple[Any | None, int]:
        version, value = self.client.hmget(self._key("value", key), ["version", "value"])
        if version is None or value is None:
            return None, 0
        return json.loads(_text(value)), int(_text(version))

    def compare_and_set(self, key: str, version: int, value: Any) -> bool:
        args = [str(int(version)), _encode(value)]
        return bool(self._compare_and_set(keys=[self._key("value", key)], args=args))

    def update(
        self, key: str, fn: Callable[[Any | None], Any], attempts: int = UPDATE_ATTEMPTS
    ) -> tuple[Any | None, Any]:
        """A loop of `read` and `compare_and_set`: `fn` may run more than once."""
        return cas_update(self, key, fn, attempts)

    def acquire_permit(self, key: str, limit: int, lease_seconds: float) -> str | None:
        _limit(limit)
        _positive("lease_seconds", lease_seconds)
        token = uuid.uuid4().hex
        now = self.clock()
        args = [
            _number(now),
            str(limit),
            token,
            _number(now + lease_seconds),
            _gc_milliseconds(lease_seconds),
        ]
        granted = self._acquire_permit(keys=[self._key("permits", key)], args=args)
        return token if granted else None

    def release_permit(self, key: str, token: str) -> None:
        self.client.zrem(self._key("permits", key), token)

    def take_rate(self, key: str, limit: int, window_seconds: float) -> float:
        _limit(limit)
        _positive("window_seconds", window_seconds)
        now = self.clock()
        args = [
            _number(now),
            str(limit),
            _number(now - window_seconds),
            uuid.uuid4().hex,
            _gc_milliseconds(window_seconds),
        ]
        oldest = _text(self._take_rate(keys=[self._key("rate", key)], args=args))
        return 0.0 if oldest == "" else max(0.0, float(oldest) + window_seconds - now)

    def lease(self, key: str, owner: str, seconds: float) -> bool:
        _positive("seconds", seconds)
        now = self.clock()
        args = [owner, _number(now), _number(now + seconds), _gc_milliseconds(seconds)]
        return bool(self._lease(keys=[self._key("lease", key)], args=args))

    def release_lease(self, key: str, owner: str) -> None:
        self._release_lease(keys=[self._key("lease", key)], args=[owner])
