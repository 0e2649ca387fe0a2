"""Turning local image bytes into URLs, for vendors that take image URLs only.

A URL-only vendor cannot receive bytes, so the engine uploads them first, once per swap, and
hands the vendor the URL.  Two kinds of uploader exist:

* the vendor's own upload endpoint, when the provider declares ``Capabilities.uploads`` and
  implements `Provider.build_upload` / `Provider.parse_upload` (such URLs are usable only by
  that vendor, so they are never shared with another provider);
* an application's `Uploader` (to its own bucket, say), passed as ``SwapClient(uploader=...)``
  or registered by a plugin through the ``register_uploaders`` hook.  It wins over the
  vendor's endpoint, and its URLs are reused by every URL-only provider of the swap.

An uploader is sans-I/O like a provider: it builds the `httpx.Request` that stores the image
(typically a PUT to a pre-signed URL) and reads the public URL from the response, so one
uploader serves the blocking and the ``async`` client alike.  A URL input is never uploaded,
and base64 never goes into a vendor's ``*_url`` field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import httpx

from swapkit.core.errors import ProviderError, error_class_for_status
from swapkit.core.images import LoadedImage
from swapkit.core.untrusted import text_prefix

__all__ = ["Uploader"]


class Uploader(ABC):
    """Stores an image somewhere a vendor can fetch it, and says at which URL."""

    #: A short name for messages and the attempt ledger.
    name: ClassVar[str] = "uploader"

    @abstractmethod
    def build_upload(self, image: LoadedImage) -> httpx.Request:
        """The request that stores `image` (its bytes are `image.data`)."""

    @abstractmethod
    def parse_upload(self, response: httpx.Response, image: LoadedImage) -> str:
        """The public http(s) URL of the stored image, from a successful (2xx) response."""

    def upload_error(self, response: httpx.Response) -> ProviderError:
        """The swapkit error for a failed upload (the core status table by default)."""
        cls = error_class_for_status(response.status_code)
        return cls(
            f"upload failed: HTTP {response.status_code} {response.reason_phrase}",
            provider=self.name,
            status_code=response.status_code,
            body=text_prefix(response.content, response.charset_encoding),
            retryable=response.status_code == 429 or response.status_code >= 500,
        )
