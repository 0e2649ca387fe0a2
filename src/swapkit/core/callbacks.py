"""Verifiable callback URLs for vendors that do not sign their callbacks.

Such a vendor POSTs the result to whatever ``callback_url`` it was given, with nothing that
proves it came from the vendor.  swapkit therefore sends, instead of the application's
``webhook_url`` itself, that URL with two query parameters added: a random per-job nonce and an
HMAC-SHA256 of it keyed with the provider's callback secret.  On receipt `verify_callback_url`
recomputes the HMAC from the URL the request arrived at and compares in constant time; anyone
who does not hold the secret cannot forge a URL that passes.  The application should still
check that the job id in the body is one it submitted (the vendors advise the same), since a
leaked URL can be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from swapkit.core.errors import InvalidSignature

__all__ = [
    "NONCE_PARAM",
    "TOKEN_PARAM",
    "callback_url_problem",
    "sign_callback_url",
    "verify_callback_url",
]

NONCE_PARAM = "swapkit_nonce"
TOKEN_PARAM = "swapkit_token"


def _token(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def sign_callback_url(url: str, secret: str) -> str:
    """`url` with a fresh nonce and its token appended to the query string."""
    nonce = secrets.token_hex(16)
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(NONCE_PARAM, nonce), (TOKEN_PARAM, _token(secret, nonce))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def callback_url_problem(url: str, secret: str) -> str | None:
    """Why `url` does not carry a nonce and token made with `secret`, or None when it does."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    nonce, token = query.get(NONCE_PARAM), query.get(TOKEN_PARAM)
    if not nonce or not token:
        return (
            f"the callback URL carries no {NONCE_PARAM}/{TOKEN_PARAM}; pass the full URL the "
            "callback arrived at, query string included"
        )
    expected = _token(secret, nonce)
    if not hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
        return "the callback URL's token does not match: not sent by swapkit"
    return None


def verify_callback_url(url: str, secret: str) -> None:
    """Raise `InvalidSignature` unless `url` carries a nonce and token made with `secret`."""
    problem = callback_url_problem(url, secret)
    del secret  # not in the frame the error's traceback keeps
    if problem is not None:
        raise InvalidSignature(problem)
