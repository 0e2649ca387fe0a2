"""Loopback checks: the sandbox never talks to, or listens on, anything but this machine.

Design: the sandbox is an unauthenticated test rig (its `/_sandbox/*` control routes need no key),
so it refuses to bind a non-loopback address, refuses to deliver webhooks to one and refuses to
fetch input images from one. Host names are not resolved (resolution could itself leave the
machine); only `localhost` and literal loopback IP addresses count.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "is_loopback_url", "require_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and literal loopback addresses (`127.0.0.0/8`, `::1`)."""
    host = host.strip().strip("[]").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when `url` is an http(s) URL whose host is a loopback host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")


def require_loopback_host(host: str) -> str:
    """Return `host` unchanged, or raise ValueError when it is not a loopback host."""
    if not is_loopback_host(host):
        raise ValueError(
            f"the swapkit sandbox only listens on loopback addresses, not {host!r} "
            "(use 127.0.0.1, ::1 or localhost)"
        )
    return host
