"""One boundary for what a vendor sends: bodies, numbers and messages, read with bounds.

A vendor's answer can be anything: HTML from a proxy, JSON cut short, nested a thousand levels
deep, a number with five thousand digits, ``NaN``, a charset that does not exist, a message of a
megabyte.  Every provider reads it through these helpers, which never raise anything but
`ValueError` (turned into a swapkit error by their callers) and never spend more than linear
time:

* `parse_json`: at most `MAX_JSON_BYTES`, decoded as UTF-8 (a BOM or a declared UTF-16/32 is
  honoured; undecodable bytes are an error, not a guess), numbers of at most
  `MAX_NUMBER_DIGITS` digits, no ``NaN``/``Infinity``, nesting at most `MAX_DEPTH` deep;
* `finite` and `whole`: a number from a vendor field, or None when it is missing, not a
  number, not finite or beyond a sane magnitude (metadata that is absurd is dropped, never
  allowed to fail a paid result);
* `text_prefix`: the start of a body as text, whatever its bytes or declared charset;
* `decode_base64`: an image a vendor sent in base64, strictly (line breaks allowed), in C;
* `message_of`: a readable message from an error field of any shape, bounded in depth and
  length;
* `says_no_face`: whether a vendor's message means "no face found", by words, on a bounded
  prefix (vendors such as Prospolabs give nothing else to tell it by); no regular expression
  with unbounded repetition runs on vendor text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import math
import re
import sys
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MAX_MESSAGE_CHARS",
    "MAX_NUMBER_DIGITS",
    "Finite",
    "decode_base64",
    "finite",
    "message_of",
    "parse_json",
    "says_no_face",
    "text_prefix",
    "whole",
]

#: The largest JSON answer read (base64 results of a few megapixels fit many times over).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: How deep arrays and objects may nest (real answers nest four or five levels).
MAX_DEPTH = 32
#: The most digits a JSON number may have.
MAX_NUMBER_DIGITS = 40
#: The longest message kept from a vendor (the rest is cut, with a note).
MAX_MESSAGE_CHARS = 2000
#: How much of a message the classifiers read.
CLASSIFY_CHARS = 4096
#: Beyond this a vendor number is taken for garbage.
MAX_MAGNITUDE = 1e15

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE = {"utf-16", "utf-16le", "utf-16be", "utf-32", "utf-32le", "utf-32be"}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text)} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 10:
        raise ValueError(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows")
    return value


def _decode(data: bytes, charset: str | None) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    wanted = (charset or "").strip().strip('"').lower()
    if wanted in _WIDE:
        return data.decode(wanted)
    return data.decode("utf-8")


def _depth(value: Any) -> int:
    """How deep `value` nests (iteratively: no recursion on vendor data)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


#: One decoder for every answer (``json.loads`` with hooks builds a new one per call).
_DECODER = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_refuse_constant
)


def parse_json(data: bytes, charset: str | None = None) -> Any:
    """A vendor's JSON, within the module's bounds; `ValueError` saying why not."""
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"the answer is {len(data)} bytes, over {MAX_JSON_BYTES}")
    try:
        text = _decode(data, charset)
    except (UnicodeError, LookupError) as exc:
        raise ValueError(
            f"the answer is not text in its charset ({exc.__class__.__name__})"
        ) from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError("the answer nests too deep") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at {exc.pos})") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"the answer nests more than {MAX_DEPTH} levels deep")
    return value


_WHITESPACE = b" \t\n\r\v\f"


def decode_base64(text: str | bytes) -> bytes:
    """Standard base64, strictly (padding, alphabet), whitespace and line breaks allowed;
    `ValueError` otherwise.

    ``base64.b64decode(..., validate=True)`` checks the alphabet with a regular expression,
    which took longer than the rest of a swap for a 100 KB image; this validates in C.
    """
    data = text.encode("ascii") if isinstance(text, str) else text  # UnicodeError: ValueError
    decoded = _strict_base64(data)
    if decoded is None:
        compact = data.translate(None, _WHITESPACE)
        decoded = _strict_base64(compact) if len(compact) < len(data) else None
    if decoded is None:
        raise ValueError("not valid base64")
    return decoded


def _strict_base64(data: bytes) -> bytes | None:
    """`data` decoded if it is strict base64 with no whitespace, else None."""
    try:
        if sys.version_info >= (3, 11):
            return binascii.a2b_base64(data, strict_mode=True)
        return base64.b64decode(data, validate=True)  # pragma: no cover - a regex on 3.10
    except binascii.Error:
        return None


def text_prefix(data: bytes, charset: str | None = None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The first `limit` characters of `data` as text, never failing on odd bytes."""
    head = data[: limit * 4]
    try:
        codecs.lookup(charset or "utf-8")
        text = head.decode(charset or "utf-8", "replace")
    except (LookupError, UnicodeError, ValueError):
        text = head.decode("utf-8", "replace")
    return text[:limit]


def finite(value: Any, *, limit: float = MAX_MAGNITUDE) -> float | None:
    """A float from a vendor field, or None when absent, not numeric, not finite or absurd.

    Numeric strings are read too (some vendors quote their numbers).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_NUMBER_DIGITS:
            return None
        try:
            value = float(text)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return number


def whole(value: Any, *, limit: float = MAX_MAGNITUDE) -> int | None:
    """A non-negative int from a vendor field (int, integral float or digit string), or None."""
    number = finite(value, limit=limit)
    if number is None or number < 0 or number != int(number):
        return None
    return int(number)


#: A pydantic field type for vendor numbers: absurd values become None (see `finite`).
Finite = Annotated[float | None, BeforeValidator(finite)]


def message_of(value: Any, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A readable message from a vendor's error field: a string, a FastAPI-style list of
    ``{"loc", "msg"}`` items, or an object with a ``message``/``msg``/``detail``; nested
    values are followed a few levels at most, and the result is at most `limit` characters."""
    parts: list[str] = []
    size = 0
    for part in _message_parts(value, depth=0):
        parts.append(part)
        size += len(part) + 2
        if size > limit:
            break
    text = "; ".join(part for part in parts if part)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _message_parts(value: Any, depth: int) -> Iterator[str]:
    if value is None or depth > 4:
        return
    if isinstance(value, str):
        yield value[: MAX_MESSAGE_CHARS + 1]
    elif isinstance(value, list):
        for item in value[:20]:
            yield from _message_parts(item, depth + 1)
    elif isinstance(value, dict):
        inner = value.get("msg") or value.get("message") or value.get("detail")
        text = message_of(inner) if depth < 4 else ""
        location = value.get("loc")
        if isinstance(location, list) and text:
            where = ".".join(str(part)[:40] for part in location[:8] if _scalar(part))
            yield f"{where}: {text}"
        elif text:
            yield text
        else:
            yield _brief(value)
    elif _scalar(value):
        yield str(value)[:100]


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**40
    )


def _brief(value: Any) -> str:
    """A short JSON rendering of a small object (never of a deep or huge one)."""
    if _depth(value) > 3:
        return "(an object nested too deep to show)"
    try:
        return json.dumps(value, default=str)[:200]
    except (ValueError, TypeError, RecursionError):
        return "(an object that cannot be shown)"


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_FACE = frozenset({"face", "faces"})
_FOUND = frozenset({"found", "detected"})
_SEARCH = frozenset({"find", "detect", "locate"})


def says_no_face(message: str) -> bool:
    """Whether `message` says no face was found, read on its first `CLASSIFY_CHARS` characters
    in one pass over its words.  It does when:

    * "no" comes before "face(s)" ("No face detected", "no usable faces");
    * "face(s)" comes before "not found", "not detected", "not be found" ("Face not detected");
    * a failed search comes before "face(s)" ("could not find a face", "couldn't detect any
      faces", "unable to locate the face").
    """
    no_seen = face_seen = failed_search = False
    last = before_last = ""
    for word in _WORD.findall(message[:CLASSIFY_CHARS].lower()):
        if word in _FACE:
            if no_seen or failed_search:
                return True
            face_seen = True
        elif word in _FOUND and face_seen:
            if last == "not" or (last == "be" and before_last == "not"):
                return True
        elif word in _SEARCH:
            negated = last == "not" or last.endswith("n't")
            failed_search |= negated or (last == "to" and before_last == "unable")
        no_seen |= word == "no"
        last, before_last = word, last
    return False
