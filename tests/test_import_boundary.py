"""The layers hold: importing the library (and wrapping an app) loads no UI package and no
observer code, and the hot side and the core never import the observer side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

HOT_AND_CORE = [
    *sorted((ROOT / "inspector" / "capture").glob("*.py")),
    *sorted((ROOT / "inspector" / "proxy").glob("*.py")),
    *sorted((ROOT / "inspector" / "bootstrap").rglob("*.py")),
    *(
        ROOT / "inspector" / f"{name}.py"
        for name in ("events", "records", "codec", "wire", "heads", "redact", "sink", "runtime")
    ),
]


def test_wrapping_an_app_loads_no_ui_no_web_framework_and_no_observer() -> None:
    code = (
        "import sys, inspector\n"
        "from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware\n"
        "ASGIInspectorMiddleware(lambda s, r, w: None); WSGIInspectorMiddleware(lambda e, s: [])\n"
        "import inspector.proxy\n"
        "heavy = ('textual', 'rich', 'tui', 'starlette', 'httpx', 'uvicorn', 'inspector.observe')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"INSPECTOR_BUS": "off", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]"


def test_the_observer_side_loads_no_ui() -> None:
    code = (
        "import sys, inspector.observe.collector, inspector.observe.export\n"
        "import inspector.observe.filters, inspector.observe.session, inspector.observe.bus\n"
        "print(sorted(m for m in ('textual', 'rich', 'tui') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", HOT_AND_CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_hot_side_and_core_never_import_the_observer_side(path: Path) -> None:
    banned = ("inspector.observe", "tui", "textual", "rich")
    found = {name for name in _imports(path) if name.startswith(banned)}
    assert not found, f"{path.name} imports {sorted(found)}"


def test_the_proxy_modules_import_each_other_without_a_cycle() -> None:
    # The connection's rules live in one sans-IO module; the adapters import it, never the
    # reverse: every module of the package can be read without those that import it.
    proxy = ROOT / "inspector" / "proxy"
    graph = {
        path.stem: {
            name.split(".")[2]
            for name in _imports(path)
            if name.startswith("inspector.proxy.") and name.count(".") >= 2
        }
        - {path.stem}
        for path in proxy.glob("*.py")
    }
    graph = {module: {n for n in names if n in graph} for module, names in graph.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for name in graph[module]:
                visit(name, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
    assert "connection" in graph["protocols"]
    assert not graph["connection"] & {"protocols", "server"}


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "inspector" / "proxy").glob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_proxy_and_the_middlewares_share_only_the_core(path: Path) -> None:
    found = {name for name in _imports(path) if name.startswith("inspector.capture")}
    assert not found, f"{path.name} imports {sorted(found)}"
