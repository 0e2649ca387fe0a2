"""Which vendor emulators a sandbox mounts: the built-ins, then the plugin emulators.

A distribution that ships an emulator (next to its provider plugin, say) declares its `Vendor`
subclass as an entry point in the `swapkit.sandbox` group:

    [project.entry-points."swapkit.sandbox"]
    acme = "swapkit_acme.emulator:AcmeVendor"

`installed_vendors()` returns `BUILTIN_VENDORS` followed by those, and a default `Sandbox()`
mounts them all (so `swapkit sandbox serve` and the pytest fixtures serve plugin emulators with
no configuration).

Design decisions:

- Looked up when asked (a default `Sandbox()` asks when it is built), never at import: a broken
  plugin must not break `import swapkit.sandbox`, and the pytest plugin must stay cheap to load.
- Every entry point is checked: it must load, name a concrete `Vendor` subclass, and that class's
  `name` (its mount point) must be one URL path segment not starting with `_` (`/_sandbox` is
  the control prefix) and not taken by a built-in or another plugin. A problem is a ValueError
  naming the entry point and its distribution. The same class under two entry points is mounted
  once.
- Order: the built-ins as listed, then the entry points sorted by name, so the mount order and
  the `vendors` listing do not depend on how the distributions happen to be installed.
- `SWAPKIT_SANDBOX_DISABLE_PLUGINS` switches plugins off: `1` (or `true`, `yes`, `all`) loads
  none, so a sandbox has only the built-ins; any other value is a comma-separated list of entry
  point names to skip (a broken plugin can be skipped without uninstalling it). From Python,
  `Sandbox(vendors=BUILTIN_VENDORS)` does the same for one sandbox. The variable is read on
  every call.
- Reading every distribution's metadata costs tens of milliseconds and tests build hundreds of
  sandboxes, so the entry points found are kept per `sys.path`; loading and checking them runs
  on every call (imports are cached by Python anyway).
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from .vendor import Vendor
from .vendors import BUILTIN_VENDORS

__all__ = ["DISABLE_PLUGINS_ENV", "ENTRY_POINT_GROUP", "VENDOR_CLASSES", "installed_vendors"]

ENTRY_POINT_GROUP = "swapkit.sandbox"
"""The entry-point group of plugin emulators; each entry point names a `Vendor` subclass."""

DISABLE_PLUGINS_ENV = "SWAPKIT_SANDBOX_DISABLE_PLUGINS"
"""`1`: no plugin emulators; otherwise a comma-separated list of entry point names to skip."""

_ALL = frozenset({"1", "true", "yes", "all"})
_NONE = frozenset({"", "0", "false", "no"})
_MOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

if TYPE_CHECKING:
    VENDOR_CLASSES: tuple[type[Vendor], ...]


def installed_vendors() -> tuple[type[Vendor], ...]:
    """The built-in vendors, then the `swapkit.sandbox` entry points' (checked; see above).

    Raises ValueError naming the entry point and its distribution when a plugin cannot be
    loaded, is not a concrete `Vendor` subclass, or takes a name already taken.
    """
    vendors = list(BUILTIN_VENDORS)
    taken = {vendor.name: "the built-in vendors" for vendor in BUILTIN_VENDORS}
    skipped = _disabled()
    if skipped is None:
        return tuple(vendors)
    for entry_point in _entry_points(tuple(sys.path)):
        if entry_point.name in skipped:
            continue
        vendor = _load(entry_point)
        if vendor in vendors:
            continue
        where = _describe(entry_point)
        if vendor.name in taken:
            raise ValueError(
                f"{where} names a vendor {vendor.name!r}, but {taken[vendor.name]} already "
                f"have one by that name; uninstall one, or skip it with "
                f"{DISABLE_PLUGINS_ENV}={entry_point.name}"
            )
        taken[vendor.name] = f"the plugin emulators ({where})"
        vendors.append(vendor)
    return tuple(vendors)


def __getattr__(name: str) -> tuple[type[Vendor], ...]:
    # `VENDOR_CLASSES` is kept for code written before plugin emulators: the vendors a default
    # `Sandbox()` mounts, looked up on each access (never at import, see above).
    if name == "VENDOR_CLASSES":
        return installed_vendors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _disabled() -> frozenset[str] | None:
    """The entry point names to skip, or None when every plugin is switched off."""
    value = os.environ.get(DISABLE_PLUGINS_ENV, "").strip()
    if value.lower() in _ALL:
        return None
    if value.lower() in _NONE:
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@functools.lru_cache(maxsize=8)
def _entry_points(search_path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The group's entry points on `search_path` (the cache key; discovery reads `sys.path`)."""
    del search_path
    found = entry_points(group=ENTRY_POINT_GROUP)
    return tuple(sorted(found, key=lambda entry_point: (entry_point.name, entry_point.value)))


def _load(entry_point: EntryPoint) -> type[Vendor]:
    """The entry point's `Vendor` subclass, or ValueError saying what is wrong with it."""
    where = _describe(entry_point)
    try:
        loaded = entry_point.load()
    except Exception as exc:  # whatever a plugin's import raises: report it, naming the plugin
        raise ValueError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Vendor)):
        raise ValueError(f"{where} is not a swapkit.sandbox.Vendor subclass: {loaded!r}")
    if inspect.isabstract(loaded):
        missing = ", ".join(sorted(getattr(loaded, "__abstractmethods__", ())))
        raise ValueError(f"{where} is an abstract Vendor (it does not define {missing})")
    name = getattr(loaded, "name", None)
    if not isinstance(name, str) or not _MOUNT_NAME.fullmatch(name):
        raise ValueError(
            f"{where}: {loaded.__name__}.name must be its mount point, one URL path segment of "
            f"letters, digits, '.', '_' or '-' not starting with '.', '_' or '-' (got {name!r})"
        )
    keys = getattr(loaded, "default_api_keys", None)
    if not isinstance(keys, tuple) or not all(isinstance(key, str) for key in keys):
        raise ValueError(
            f"{where}: {loaded.__name__}.default_api_keys must be a tuple of strings (got {keys!r})"
        )
    return loaded


def _describe(entry_point: EntryPoint) -> str:
    """`sandbox entry point 'acme' (swapkit_acme.emulator:AcmeVendor) of swapkit-acme 1.0`."""
    dist = entry_point.dist
    owner = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"sandbox entry point {entry_point.name!r} ({entry_point.value}) of {owner}"
