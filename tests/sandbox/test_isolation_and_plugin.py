"""The sandbox stands apart from swapkit's adapters; its pytest plugin survives --block-network."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import swapkit.sandbox

SANDBOX_DIR = Path(swapkit.sandbox.__file__).parent
ALLOWED_TOP_LEVEL = {"httpx", "pydantic", "PIL", "pytest", "swapkit"}


def _sandbox_sources() -> list[Path]:
    """Every module of the sandbox, the vendor subpackages included."""
    return sorted(SANDBOX_DIR.rglob("*.py"))


def test_the_source_walk_reaches_the_vendor_subpackages() -> None:
    walked = {path.relative_to(SANDBOX_DIR).as_posix() for path in _sandbox_sources()}
    assert {"app.py", "vendors/__init__.py", "vendors/acedata/app.py"} <= walked


def test_sandbox_sources_import_only_stdlib_httpx_pydantic_pillow() -> None:
    for path in _sandbox_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        # `.` is the module's own package; one more dot per level up reaches the sandbox.
        max_level = len(path.relative_to(SANDBOX_DIR).parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level > max_level:
                    raise AssertionError(f"{path}: relative import outside the sandbox")
                names = [node.module or ""] if node.level == 0 else []
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_TOP_LEVEL, (path, name)
                if top == "swapkit":
                    assert name.startswith("swapkit.sandbox"), (path.name, name)


VENDOR_WORDS = ("prospolabs", "acedata", "eventstation", "deepswap")


def _shared_modules() -> list[Path]:
    """The sandbox's shared machinery: every module beside `vendors/`, none under it."""
    return sorted(SANDBOX_DIR.glob("*.py"))


def _code_words(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every identifier and string in `tree`'s code, with its line; docstrings (and any other
    bare string statement, such as an attribute's docstring) are documentation, not code."""
    docs = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs:
                yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.alias):
            yield line, node.name
            if node.asname:
                yield line, node.asname
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield line, node.module
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield line, node.name
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            yield line, node.arg or ""


def test_shared_modules_name_no_vendor() -> None:
    from swapkit.sandbox.vendors import BUILTIN_VENDORS

    words = {*VENDOR_WORDS, *(vendor.name.lower() for vendor in BUILTIN_VENDORS)}
    words |= {path.name.lower() for path in (SANDBOX_DIR / "vendors").iterdir() if path.is_dir()}
    words.discard("__pycache__")
    named = [
        f"{path.name}:{line}: {text!r}"
        for path in _shared_modules()
        for line, text in _code_words(ast.parse(path.read_text(), filename=str(path)))
        if any(word in text.lower() for word in words)
    ]
    assert named == []


def test_the_vendor_name_check_sees_code_and_skips_docstrings() -> None:
    source = textwrap.dedent(
        '''
        """Module docs may say acedata."""
        from .vendors.acedata import AceDataVendor
        LIMIT = 1
        """An attribute's docs may say Prospolabs."""
        def mount(deepswapai_key: str) -> str:
            return "eventstation"
        '''
    )
    found = {text for _, text in _code_words(ast.parse(source))}
    assert {"vendors.acedata", "AceDataVendor", "deepswapai_key", "eventstation"} <= found
    assert not any("Module docs" in text or "attribute's docs" in text for text in found)


def test_importing_the_sandbox_loads_no_adapter_code() -> None:
    # A stub `swapkit` package keeps swapkit/__init__.py (which may import the core) out of it.
    code = textwrap.dedent(
        """
        import importlib.util, sys, types
        spec = importlib.util.find_spec("swapkit")
        stub = types.ModuleType("swapkit")
        stub.__path__ = list(spec.submodule_search_locations)
        sys.modules["swapkit"] = stub
        import swapkit.sandbox.pytest_plugin
        assert "swapkit.sandbox.app" not in sys.modules, "the pytest plugin must import lazily"
        assert "PIL" not in sys.modules and "pydantic" not in sys.modules
        import swapkit.sandbox
        from swapkit.sandbox import Sandbox
        Sandbox().close()
        loaded = sorted(m for m in sys.modules if m.startswith("swapkit"))
        bad = [m for m in loaded if m != "swapkit" and not m.startswith("swapkit.sandbox")]
        print(bad)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_exports_are_complete() -> None:
    for name in swapkit.sandbox.__all__:
        assert getattr(swapkit.sandbox, name) is not None
    assert sorted(swapkit.sandbox.__all__) == sorted(set(swapkit.sandbox.__all__))


PLUGIN_TESTS = """
import socket

import httpx
import pytest


def test_network_is_still_blocked_without_the_fixtures():
    with socket.socket() as sock, pytest.raises(RuntimeError):
        sock.connect(("127.0.0.1", 9))


def test_sync_client(swapkit_sandbox_server):
    url = swapkit_sandbox_server.base_url("prospolabs") + "/v1/jobs/x"
    response = httpx.get(url, headers={"Authorization": "Bearer prsp-sandbox"})
    assert response.json()["detail"] == "Job not found"


async def test_async_client(swapkit_sandbox_server):
    async with httpx.AsyncClient(base_url=swapkit_sandbox_server.url) as client:
        assert (await client.get("/_sandbox")).status_code == 200


@pytest.mark.block_network(allowed_hosts=[r"example\\.invalid"])
def test_existing_allowed_hosts_are_kept(swapkit_sandbox_server, request):
    hosts = request.node.get_closest_marker("block_network").kwargs["allowed_hosts"]
    assert hosts[0] == r"example\\.invalid"
    assert httpx.get(swapkit_sandbox_server.url + "/_sandbox").status_code == 200


class TestConfig:
    @pytest.fixture
    def swapkit_sandbox_config(self):
        return {"job_seconds": 0.25, "credits": 3}

    def test_config_fixture(self, swapkit_sandbox, swapkit_sandbox_server):
        assert swapkit_sandbox.settings.job_seconds == 0.25
        assert swapkit_sandbox_server.sandbox is swapkit_sandbox
"""


def test_pytest_plugin_fixtures_under_block_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test_plugin_user.py").write_text(PLUGIN_TESTS)
    exit_code = pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:benchmark",  # unrelated plugins, disabled to keep the inner run fast
            "-p",
            "no:hypothesispytest",
            "--block-network",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(tmp_path / "test_plugin_user.py"),
        ]
    )
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert exit_code == 0, output
    assert "5 passed" in output
