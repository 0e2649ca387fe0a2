"""The documentation stays in step with the code: hooks, public names, links, README commands,
the generated tables (``python docs/_generate.py``), the API reference, and every example.

The examples run against a sandbox served on loopback (swapkit's pytest fixture), with its jobs
done at once; the whole module takes a few seconds.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import inspect
import io
import logging
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import SkipTest

import pytest
from PIL import Image
from sybil import Sybil
from sybil.parsers.myst import PythonCodeBlockParser, SkipParser

import swapkit
from swapkit import errors
from swapkit.core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _blocks(text: str) -> list[tuple[str, str]]:
    """Fenced code blocks as (language, body)."""
    return [(match[1], match[2]) for match in _FENCE.finditer(text)]


def _prose(text: str) -> str:
    """The text with fenced code blocks and inline code removed."""
    return re.sub(r"`[^`\n]*`", "", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    # emphasis marks go; an underscore inside a word (a hook's name) stays, as on GitHub
    text = re.sub(r"[`*]|(?<!\w)_|_(?!\w)|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _hookspecs() -> dict[str, Callable[..., Any]]:
    return {
        name: value
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, "swapkit_spec")
    }


def _signature(function: Callable[..., Any]) -> str:
    """``def name(arg: Type, ...) -> Return`` as written in the source."""

    def shown(annotation: Any) -> str:
        return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)

    signature = inspect.signature(function)
    params = []
    for param in signature.parameters.values():
        text = param.name
        if param.annotation is not inspect.Parameter.empty:
            text += f": {shown(param.annotation)}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        params.append(text)
    returns = signature.return_annotation
    tail = "" if returns is inspect.Signature.empty else f" -> {shown(returns)}"
    return f"def {function.__name__}({', '.join(params)}){tail}"


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no '## {heading}' section"
    return match[1]


def test_there_are_hookspecs() -> None:
    assert "register_providers" in _hookspecs()


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    hooks = _section((DOCS / "plugins.md").read_text(), "Hooks")
    assert f"### `{name}`" in hooks, f"docs/plugins.md has no '### `{name}`' under '## Hooks'"
    code = "\n".join(body for _, body in _blocks(hooks))
    signature = _signature(_hookspecs()[name])
    assert signature in code, f"docs/plugins.md should show `{signature}`"


def test_every_public_name_is_documented() -> None:
    text = "\n".join(page.read_text() for page in sorted(DOCS.glob("*.md")))
    names = sorted({*swapkit.__all__, *errors.__all__})
    missing = [name for name in names if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert not missing, f"not mentioned anywhere in docs/: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no file {linked})")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target} (no heading for #{anchor} in {linked.name})")
    assert not broken, f"{page.name}: broken links: {broken}"


def test_readme_starts_with_the_two_commands_ci_runs() -> None:
    language, body = _blocks(README.read_text())[0]
    assert language in ("bash", "sh", "console", "")
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in body.splitlines() if line.strip()]
    assert len(commands) == 2, f"the README's first block should hold two commands: {commands}"
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[1] in ci_lines, f".ci/run does not run {commands[1]!r}"


def _png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_plugin_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = [body for _, body in _blocks((DOCS / "plugins.md").read_text())]
    (plugin,) = [body for body in blocks if body.startswith('"""swapkit_echo')]
    (usage,) = [body for body in blocks if "import swapkit_echo" in body]
    module = types.ModuleType("swapkit_echo")
    monkeypatch.setitem(sys.modules, "swapkit_echo", module)
    exec(compile(plugin, "docs/plugins.md (swapkit_echo)", "exec"), module.__dict__)
    (tmp_path / "face.png").write_bytes(_png((40, 40), (200, 150, 120)))
    (tmp_path / "scene.png").write_bytes(_png((60, 50), (20, 90, 160)))
    monkeypatch.chdir(tmp_path)
    exec(compile(usage, "docs/plugins.md (usage)", "exec"), {"__name__": "__docs__"})
    expected = re.search(r"^# (.+)$", usage, re.M)
    assert expected, "the usage example should end with its output as a comment"
    assert capsys.readouterr().out.strip() == expected[1]


def test_the_policy_table_in_the_routing_docs_is_the_policy() -> None:
    from swapkit import FailoverPolicy

    text = (DOCS / "routing.md").read_text()
    found = re.search(r"<!-- policy-table[^>]*-->\n(.*?)\n<!-- /policy-table -->", text, re.S)
    assert found, "docs/routing.md has no generated policy table"
    assert found[1] == FailoverPolicy().table(), "regenerate it: FailoverPolicy().table()"


def _generator() -> types.ModuleType:
    """docs/_generate.py, which writes the generated tables into the pages."""
    spec = importlib.util.spec_from_file_location("swapkit_docs_generate", DOCS / "_generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", sorted(_generator().REGIONS))
def test_the_generated_tables_are_current(page: str) -> None:
    text = (DOCS / page).read_text()
    current = _generator().regenerate(page, text)
    diff = "".join(difflib.unified_diff(text.splitlines(True), current.splitlines(True), n=1))
    assert current == text, f"docs/{page} is out of date: run python docs/_generate.py\n{diff}"


def test_the_cli_page_shows_every_command() -> None:
    from swapkit.cli import cli

    text = (DOCS / "cli.md").read_text()
    names = ["swapkit", *(f"swapkit {name}" for name in cli.commands)]
    missing = [name for name in names if f"### `{name}`" not in text]
    assert not missing, f"docs/cli.md has no help for {missing}: run python docs/_generate.py"


@pytest.mark.parametrize(
    ("page", "module", "names"),
    [
        ("swapkit.md", "swapkit", [name for name in swapkit.__all__ if name != "errors"]),
        ("errors.md", "swapkit.errors", errors.__all__),
    ],
)
def test_the_api_reference_covers_every_public_name(
    page: str, module: str, names: list[str]
) -> None:
    text = (DOCS / "reference" / page).read_text()
    missing = [
        name for name in names if not re.search(rf":: {re.escape(module)}\.{name}$", text, re.M)
    ]
    assert not missing, f"docs/reference/{page} has no autodoc entry for {missing}"


# -- every Python example runs -----------------------------------------------------------------
#
# Each page's ```python blocks run in order, in one namespace, as a reader would paste them: in
# a temporary directory holding the sample images the pages name, with every provider's
# SWAPKIT_<NAME>_API_KEY / _BASE_URL pointing at a sandbox served on loopback.  A block that
# cannot run is marked in the Markdown, visibly in the source and invisibly on the page, with
# Sybil's `<!-- skip: next "why" -->`; `<!-- invisible-code-block: python -->` defines what a
# fragment takes from the reader's own application (`store_result`, `photo`).

_SKIP = SkipParser()
_EXAMPLES = Sybil(parsers=[PythonCodeBlockParser(), _SKIP])
#: Pages whose examples do not run yet, and why; each should leave this list soon.
_NOT_RUN_YET: dict[str, str] = {}
#: How many skip markers README.md and docs/ may hold together: raising it is a decision.
#: Four: a plugin's contract test module, and scaling.md's Celery, arq and RQ worker modules
#: (each needs a broker and a worker process).
_MAX_SKIPS = 4


def _sample_files() -> dict[str, bytes]:
    """The images the examples name, by path relative to their working directory."""
    from swapkit.sandbox import sample_face, sample_scene

    face, scene = sample_face(), sample_scene()
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(face)).convert("RGB").save(jpeg, format="JPEG")
    files = {"me.jpg": jpeg.getvalue(), "child.jpg": jpeg.getvalue(), "face.png": face}
    for name in ["scene.png", "page.png", "scenes/page-3.png"]:
        files[name] = scene
    files.update({f"page-{n}.png": scene for n in range(1, 4)})
    files.update({f"pages/{n:02d}.png": scene for n in range(20)})
    files.update({f"templates/{n}.png": scene for n in range(1, 4)})
    return files


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.0}


@pytest.fixture
def docs_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swapkit_sandbox_server: Any
) -> Path:
    """A working directory with the sample images, and every provider pointed at a sandbox."""
    from swapkit.sandbox import VENDOR_CLASSES

    for name, data in _sample_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    for vendor in VENDOR_CLASSES:
        prefix = f"SWAPKIT_{vendor.name.upper()}_"
        monkeypatch.setenv(prefix + "API_KEY", vendor.default_api_keys[0])
        monkeypatch.setenv(prefix + "BASE_URL", swapkit_sandbox_server.base_url(vendor.name))
    # jobs are done at once on this sandbox: poll at once too (AceDataCloud's floor is 1 s)
    for name in ["PROSPOLABS", "EVENTSTATION", "DEEPSWAPAI"]:
        monkeypatch.setenv(f"SWAPKIT_{name}_POLL_INTERVAL", "0.01")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Undo what a page does to logging (observability.md configures it, as an app would)."""
    manager = logging.Logger.manager
    levels = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level, root_handlers = logging.root.level, logging.root.handlers[:]
    yield
    for name, logger in manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    logging.root.setLevel(root_level)
    logging.root.handlers[:] = root_handlers


def _skips(page: Path) -> list[tuple[int, str | None]]:
    """Each `skip: next` or `skip: start` marker on the page: its line and its reason."""
    return [
        (example.line, example.parsed[1])
        for example in _EXAMPLES.parse(page)
        if example.region.evaluator is _SKIP.skipper and example.parsed[0] in ("next", "start")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
@pytest.mark.usefixtures("restored_logging")
def test_the_examples_run(page: Path, docs_environment: Path) -> None:
    name = page.relative_to(ROOT).as_posix()
    if name in _NOT_RUN_YET:
        pytest.skip(_NOT_RUN_YET[name])
    document = _EXAMPLES.parse(page)
    document.namespace["__name__"] = "__docs__"
    clients: dict[int, Any] = {}  # every client a block left in the namespace, by id
    try:
        for example in document:
            try:
                example.evaluate()
            except SkipTest:
                continue
            except Exception as exc:
                raise AssertionError(f"{name}, line {example.line}: the example failed") from exc
            finally:
                clients.update(
                    (id(value), value)
                    for value in document.namespace.values()
                    if isinstance(value, swapkit.SwapClient | swapkit.AsyncSwapClient)
                )
    finally:
        # as the end of the reader's process would, for a client kept for the process's life
        for client in clients.values():
            if isinstance(client, swapkit.SwapClient):
                client.close()
            else:
                asyncio.run(client.aclose())


def test_skipped_examples_are_few_and_say_why() -> None:
    skips = {page.relative_to(ROOT).as_posix(): _skips(page) for page in PAGES}
    silent = [f"{page}:{line}" for page, found in skips.items() for line, why in found if not why]
    assert not silent, f'every skip says why, as <!-- skip: next "why" -->: {silent}'
    count = sum(len(found) for found in skips.values())
    assert count <= _MAX_SKIPS, f"{count} skip markers in the docs: make the examples run instead"
