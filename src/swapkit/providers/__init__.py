"""Built-in providers, one module per vendor, each registered as a plugin.

`BUILTIN_PLUGINS` maps each plugin name to its module; the plugin manager registers them
exactly as it registers a third-party plugin found through the ``swapkit`` entry points.
"""

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["BUILTIN_PLUGINS"]

BUILTIN_PLUGINS: Mapping[str, str] = MappingProxyType(
    {
        "acedata": "swapkit.providers.acedata",
        "deepswapai": "swapkit.providers.deepswapai",
        "eventstation": "swapkit.providers.eventstation",
        "prospolabs": "swapkit.providers.prospolabs",
    }
)
