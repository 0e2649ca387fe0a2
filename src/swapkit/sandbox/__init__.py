"""swapkit's sandbox: faithful emulators of the face-swap vendors, with fault injection.

Written from the vendors' published contracts, never from swapkit's adapters (this package
imports nothing from `swapkit.core` or `swapkit.providers`), so that it can catch adapter bugs.
See docs/sandbox.md.

    from swapkit.sandbox import Sandbox, Fault

    with Sandbox() as sandbox, sandbox.serve() as server:
        name = sorted(sandbox.vendors)[0]               # every emulated vendor, by name
        base_url = server.base_url(name)                # http://127.0.0.1:<port>/<name>
        sandbox.faults.add(Fault(provider=name, status=503, times=1))

    client = httpx.Client(transport=Sandbox().transport(), base_url=f"http://sandbox/{name}")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Sandbox
    from .clock import FakeClock
    from .faults import ErrorEnvelope, Fault, FaultBook, FaultKind
    from .messages import SandboxRequest, SandboxResponse
    from .registry import VENDOR_CLASSES, installed_vendors
    from .samples import sample_face, sample_scene
    from .server import SandboxServer, serve_forever
    from .transport import SandboxTransport
    from .vendor import SandboxSettings, Vendor, VendorContext, VendorOptions
    from .vendors import BUILTIN_VENDORS
    from .webhooks import WebhookDelivery

# Lazy exports (PEP 562): the pytest plugin lives in this package and is loaded into every
# pytest run, so importing `swapkit.sandbox` must not pull in pydantic, Pillow and httpx.
_EXPORTS = {
    "BUILTIN_VENDORS": "vendors",
    "VENDOR_CLASSES": "registry",
    "ErrorEnvelope": "faults",
    "FakeClock": "clock",
    "Fault": "faults",
    "FaultBook": "faults",
    "FaultKind": "faults",
    "Sandbox": "app",
    "SandboxRequest": "messages",
    "SandboxResponse": "messages",
    "SandboxServer": "server",
    "SandboxSettings": "vendor",
    "SandboxTransport": "transport",
    "Vendor": "vendor",
    "VendorContext": "vendor",
    "VendorOptions": "vendor",
    "WebhookDelivery": "webhooks",
    "installed_vendors": "registry",
    "serve_forever": "server",
    "sample_face": "samples",
    "sample_scene": "samples",
}

__all__ = [
    "BUILTIN_VENDORS",
    "VENDOR_CLASSES",
    "ErrorEnvelope",
    "FakeClock",
    "Fault",
    "FaultBook",
    "FaultKind",
    "Sandbox",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SandboxSettings",
    "SandboxTransport",
    "Vendor",
    "VendorContext",
    "VendorOptions",
    "WebhookDelivery",
    "installed_vendors",
    "sample_face",
    "sample_scene",
    "serve_forever",
]


#: Looked up on every access (it depends on the installed plugins), so never cached here.
_UNCACHED = frozenset({"VENDOR_CLASSES"})


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    if name not in _UNCACHED:
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
