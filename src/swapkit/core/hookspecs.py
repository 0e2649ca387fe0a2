"""The hooks a swapkit plugin can implement.

A plugin is a module (or object) with functions decorated by ``@swapkit.hookimpl`` whose names
match the specs below, made known through the ``swapkit`` entry-point group::

    [project.entry-points.swapkit]
    my_vendor = "my_package.swapkit_plugin"

Hooks are synchronous and do no I/O: they only register things.  A spec is only ever extended
by adding arguments, so existing plugins keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from swapkit.core.provider import Provider
    from swapkit.core.uploads import Uploader

__all__ = ["hookimpl", "hookspec", "register_providers", "register_uploaders"]

hookspec = pluggy.HookspecMarker("swapkit")
hookimpl = pluggy.HookimplMarker("swapkit")


@hookspec
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register provider classes by calling ``register(ProviderClass)`` once for each.

    Two plugins registering the same provider name is an error that names both.
    """


@hookspec
def register_uploaders(register: Callable[[Uploader], None]) -> None:
    """Register an `Uploader` instance by calling ``register(uploader)``.

    URL-only providers then receive local images through it instead of the vendor's own upload
    endpoint (for example to store them in the application's bucket).  At most one uploader
    may be registered; `SwapClient(uploader=...)` overrides it.
    """
