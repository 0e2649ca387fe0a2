"""The plugin manager: the only module-level state in swapkit, and the only caller of hooks.

`make_plugin_manager` always builds in the same order: add the hook specs, block the plugins
named in ``SWAPKIT_DISABLE_PLUGINS`` (comma-separated), load the ``swapkit`` entry points, then
register the built-in providers exactly as a third-party plugin would be registered, and check
that no plugin implements a hook that does not exist.  Tests build their own manager with
``entry_points=False`` so nothing that happens to be installed leaks in.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

from swapkit.core import hookspecs
from swapkit.core.errors import ConfigurationError
from swapkit.core.logs import log_attempt, log_breaker, log_failover, log_job, log_swap
from swapkit.core.provider import check_provider_class
from swapkit.providers import BUILTIN_PLUGINS

if TYPE_CHECKING:
    from swapkit.core.models import Attempt
    from swapkit.core.provider import Provider
    from swapkit.core.uploads import Uploader

__all__ = [
    "ENTRY_POINT_GROUP",
    "Events",
    "get_plugin_manager",
    "installed_providers",
    "installed_uploader",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = "swapkit"

_default_manager: pluggy.PluginManager | None = None


def make_plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[object] = ()
) -> pluggy.PluginManager:
    """A fresh plugin manager with the built-in providers and, optionally, installed plugins."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for name in os.environ.get("SWAPKIT_DISABLE_PLUGINS", "").split(","):
        if name.strip():
            pm.set_blocked(name.strip())
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for name, module_name in BUILTIN_PLUGINS.items():
        if not pm.is_blocked(name) and pm.get_plugin(name) is None:
            pm.register(importlib.import_module(module_name), name=name)
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _default_manager
    if _default_manager is None:
        _default_manager = make_plugin_manager()
    return _default_manager


def installed_providers(pm: pluggy.PluginManager | None = None) -> dict[str, type[Provider]]:
    """Provider classes by name, from every registered plugin; duplicates are an error."""
    manager = pm or get_plugin_manager()
    found: dict[str, tuple[type[Provider], str]] = {}
    for impl in manager.hook.register_providers.get_hookimpls():
        plugin_name = impl.plugin_name

        def register(provider_class: type[Provider], _plugin: str = plugin_name) -> None:
            try:
                check_provider_class(provider_class)
            except ConfigurationError as exc:
                raise ConfigurationError(f"plugin {_plugin!r}: {exc}") from None
            name = provider_class.name
            if name in found and found[name][0] is not provider_class:
                raise ConfigurationError(
                    f"two plugins provide a provider named {name!r}: "
                    f"{found[name][1]!r} and {_plugin!r}; uninstall one, or block one with "
                    "SWAPKIT_DISABLE_PLUGINS"
                )
            found[name] = (provider_class, _plugin)

        impl.function(register=register)
    return {name: cls for name, (cls, _) in sorted(found.items())}


def installed_uploader(pm: pluggy.PluginManager | None = None) -> Uploader | None:
    """The uploader a plugin registered, if any; two is an error naming both plugins."""
    manager = pm or get_plugin_manager()
    found: list[tuple[Uploader, str]] = []
    for impl in manager.hook.register_uploaders.get_hookimpls():
        impl.function(
            register=lambda uploader, _plugin=impl.plugin_name: found.append((uploader, _plugin))
        )
    if len(found) > 1:
        plugins = " and ".join(repr(plugin) for _, plugin in found)
        raise ConfigurationError(
            f"more than one plugin registers an uploader ({plugins}); keep one, or pass "
            "SwapClient(uploader=...)"
        )
    return found[0][0] if found else None


_log = logging.getLogger("swapkit")


class Events:
    """Calls the observer hooks of the installed plugins and of one client's observers.

    An observer that raises is logged and ignored: reporting must never break a swap.
    """

    def __init__(self, pm: pluggy.PluginManager | None, observers: Iterable[object] = ()) -> None:
        managers = [pm or get_plugin_manager()]
        observers = list(observers)
        if observers:
            own = pluggy.PluginManager(ENTRY_POINT_GROUP)
            own.add_hookspecs(hookspecs)
            for observer in observers:
                own.register(observer)
            own.check_pending()
            managers.append(own)
        self._managers = managers

    def _emit(self, name: str, **kwargs: object) -> None:
        for manager in self._managers:
            caller = getattr(manager.hook, name)
            for impl in caller.get_hookimpls():
                try:
                    impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
                except Exception:
                    _log.exception("swapkit observer %s.%s failed", impl.plugin_name, name)

    def swap_started(self, swap_id: str) -> None:
        self._emit("swap_started", swap_id=swap_id)

    def swap_finished(self, swap_id: str, result: object, error: object) -> None:
        log_swap(swap_id, result, error)
        self._emit("swap_finished", swap_id=swap_id, result=result, error=error)

    def attempt_started(
        self, provider: str, model: str | None, reason: str, swap_id: str = ""
    ) -> None:
        self._emit(
            "attempt_started", provider=provider, model=model, reason=reason, swap_id=swap_id
        )

    def attempt_finished(self, attempt: Attempt, swap_id: str = "") -> None:
        log_attempt(attempt, swap_id or None)
        self._emit("attempt_finished", attempt=attempt, swap_id=swap_id)

    def job_accepted(
        self, provider: str, job_id: str | None, model: str | None, swap_id: str
    ) -> None:
        self._emit("job_accepted", provider=provider, job_id=job_id, model=model, swap_id=swap_id)

    def job_changed(
        self, swap_id: str, state: str, provider: str | None, job_id: str | None
    ) -> None:
        log_job(swap_id, state, provider, job_id)
        self._emit("job_changed", swap_id=swap_id, state=state, provider=provider, job_id=job_id)

    def failover(
        self, from_provider: str, to_provider: str, error: object, swap_id: str = ""
    ) -> None:
        log_failover(from_provider, to_provider, error, swap_id or None)
        self._emit(
            "failover",
            from_provider=from_provider,
            to_provider=to_provider,
            error=error,
            swap_id=swap_id,
        )

    def breaker_changed(self, provider: str, old: str, new: str) -> None:
        log_breaker(provider, old, new)
        self._emit("breaker_changed", provider=provider, old=old, new=new)
