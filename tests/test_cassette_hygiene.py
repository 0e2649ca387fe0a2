"""Every shipped cassette is scrubbed: no credential, no signature, no image payload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CASSETTES = sorted((Path(__file__).parent / "cassettes").rglob("*.yaml"))
KEY_SHAPED = re.compile(r"(?i)\b(?:bearer [^\s'\"]{6,}|(?:prsp|sk|whsec)-[a-z0-9_-]{6,})")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}")
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-prospo-signature", "x-api-key"}


def test_there_are_cassettes() -> None:
    assert len(CASSETTES) >= 20


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cassette_is_scrubbed(path: Path) -> None:
    text = path.read_text()
    assert not KEY_SHAPED.search(text), "credential-shaped string"
    assert not BASE64_RUN.search(text), "image payload stored instead of a digest"
    assert "127.0.0.1" not in text, "sandbox address instead of the canonical host"
    data = yaml.safe_load(text)
    for interaction in data["interactions"]:
        for part in ("request", "response"):
            headers = {name.lower() for name in interaction[part].get("headers", {})}
            assert not headers & SECRET_HEADERS, f"{part} keeps {headers & SECRET_HEADERS}"
        uri = interaction["request"]["uri"]
        assert "token=" not in uri or "token=REDACTED" in uri
