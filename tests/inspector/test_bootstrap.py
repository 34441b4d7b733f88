"""The bootstrap `inspector run` installs: its sitecustomize in real interpreters, the
patches it makes when a server module is imported, and wrapping exactly once.

Servers served through it, end to end, are in `tests/tui/test_run.py`.
"""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware

from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware, bootstrap, wire
from inspector.bootstrap import servers
from inspector.bootstrap.report import ReportReader, report
from inspector.bootstrap.wrap import (
    ASGIBootstrapMiddleware,
    ASGIStandAsideMiddleware,
    WSGIStandAsideMiddleware,
    captures,
)
from tests.apps.run_apps import asgi_app, wsgi_app
from tests.servers import ROOT

APPS = "tests.apps.run_apps"
CAPTURE = "inspector.capture.asgi"


def python(
    code: str, tmp_path: Path, *, path: Iterable[str] = (), env: dict[str, str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Run `code` in a new interpreter with the bootstrap (and then `path`) on PYTHONPATH;
    its stdout and the report it wrote."""
    report_path = tmp_path / "report.jsonl"
    report_path.unlink(missing_ok=True)
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
    address = wire.Address("unix", path=str(tmp_path / "nobody.sock"))
    full = {**bootstrap.environment(base, address, str(report_path)), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the bootstrap says nothing in the process's own output
    return result.stdout, ReportReader(str(report_path)).read()


def test_it_watches_exactly_the_modules_it_patches(tmp_path: Path) -> None:
    out, _ = python("import sitecustomize; print(sorted(sitecustomize.WATCHED))", tmp_path)
    assert out.strip() == str(sorted(servers.PATCHES))


def test_importing_it_by_its_package_name_does_nothing() -> None:
    # Only `site` runs it as `sitecustomize`: this process gets no watcher and no report.
    from inspector.bootstrap.sitedir import sitecustomize

    assert not any(type(finder).__module__ == sitecustomize.__name__ for finder in sys.meta_path)


def test_environment_puts_the_bootstrap_first_and_keeps_the_rest() -> None:
    address = wire.Address("unix", path="/run/x.sock")
    base = {"PYTHONPATH": f"/a{os.pathsep}{bootstrap.SITE_DIR}", "INSPECTOR_TOKEN": "secret"}
    env = bootstrap.environment(base, address, "/tmp/r")
    assert env["PYTHONPATH"] == f"{bootstrap.SITE_DIR}{os.pathsep}/a"
    assert env["INSPECTOR_BUS"] == "unix:/run/x.sock"
    assert env["INSPECTOR_TOKEN"] == ""  # a private socket asks for none: do not send one
    assert env["INSPECTOR_RUN_REPORT"] == "/tmp/r"
    assert base["INSPECTOR_TOKEN"] == "secret"


def test_a_process_says_it_started_and_loads_nothing_before_it_needs_it(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "names = ('inspector', 'uvicorn', 'gunicorn', 'werkzeug', 'django', 'granian')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in names))"
    )
    out, lines = python(code, tmp_path)
    assert out.strip() == "[]"
    assert lines == [
        {
            "pid": lines[0]["pid"],
            "started": True,
            "python": sys.executable,
            "version": ".".join(map(str, sys.version_info[:3])),
            "inspector": True,
        }
    ]


def test_the_sitecustomize_it_hides_still_runs_and_is_the_one_imported(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text(
        "import os\nos.environ['THEIRS_RAN'] = 'yes'\n", encoding="utf-8"
    )
    code = "import os, sitecustomize; print(os.environ.get('THEIRS_RAN'), sitecustomize.__file__)"
    out, lines = python(code, tmp_path, path=[str(theirs)])
    assert out.split() == ["yes", str(theirs / "sitecustomize.py")]
    assert lines[0]["started"] is True


def test_a_patched_module_keeps_its_loader_source_and_names(tmp_path: Path) -> None:
    code = (
        "import inspect, werkzeug, werkzeug.serving as serving\n"
        "print(type(serving.__loader__).__name__, type(serving.__spec__.loader).__name__)\n"
        "print(werkzeug.run_simple is serving.run_simple, serving.run_simple.__name__)\n"
        "print(serving.run_simple.__wrapped__.__module__, 'def run_simple' in "
        "inspect.getsource(serving))"
    )
    out, lines = python(code, tmp_path)
    assert out.splitlines() == [
        "SourceFileLoader SourceFileLoader",
        "True run_simple",
        "werkzeug.serving True",
    ]
    assert {"pid": lines[0]["pid"], "hooked": "werkzeug.serving"} in lines


def test_a_module_that_cannot_be_patched_is_reported_and_still_imports(tmp_path: Path) -> None:
    # A server of another shape than the one the patch knows: the import goes on unchanged.
    fake = tmp_path / "fake" / "waitress"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("", encoding="utf-8")
    (fake / "server.py").write_text("def serve(app):\n    return 'served'\n", encoding="utf-8")
    code = "import waitress.server as s; print(s.serve(None))"
    out, lines = python(code, tmp_path, path=[str(tmp_path / "fake")])
    assert out.strip() == "served"
    [failed] = [line for line in lines if "failed" in line]
    assert failed["failed"] == "waitress.server"
    assert failed["error"].startswith("AttributeError: ")
    assert "has no attribute 'create_server'" in failed["error"]


def test_an_interpreter_without_inspector_says_so_and_is_left_alone(tmp_path: Path) -> None:
    # Isolated, without site-packages, this interpreter cannot import inspector; it ignores
    # PYTHONPATH too, so the directory is put on its path by hand.
    report_path = tmp_path / "report.jsonl"
    code = f"import sys; sys.path.insert(0, {bootstrap.SITE_DIR!r}); import sitecustomize"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        env={"INSPECTOR_RUN_REPORT": str(report_path)},
        cwd=tmp_path,
        check=True,
    )
    assert result.stdout == result.stderr == ""
    [line] = ReportReader(str(report_path)).read()
    assert line["inspector"] is False
    assert line["python"] == sys.executable


def test_the_report_is_read_by_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.jsonl"
    monkeypatch.setenv("INSPECTOR_RUN_REPORT", str(path))
    reader = ReportReader(str(path))
    assert reader.read() == []
    report(wrapped="uvicorn")
    with open(path, "ab") as file:
        file.write(b'{"pid": 1, "half')
    assert reader.read() == [{"pid": os.getpid(), "wrapped": "uvicorn"}]
    with open(path, "ab") as file:
        file.write(b'": 2}\nnot json\n')
    assert reader.read() == [{"pid": 1, "half": 2}]


# -- wrapping exactly once ---------------------------------------------------------------------


def test_captures_finds_a_capture_where_middleware_chains_keep_their_app() -> None:
    class Outer:
        def __init__(self, app: Any) -> None:
            self.app = app

    class Slotted:
        __slots__ = ("app",)

        def __init__(self, app: Any) -> None:
            self.app = app

    class Lazy:
        @property
        def app(self) -> Any:
            raise AssertionError("a property is never run")

    assert captures(ASGIInspectorMiddleware(asgi_app, bus=_Records()))
    assert captures(Outer(Slotted(Outer(WSGIInspectorMiddleware(wsgi_app, bus=_Records())))))
    assert not captures(Outer(Slotted(Outer(wsgi_app))))
    assert not captures(Lazy())

    flask = Flask("app")
    assert not captures(flask)
    flask.wsgi_app = WSGIInspectorMiddleware(flask.wsgi_app, bus=_Records())  # type: ignore[method-assign]
    assert captures(flask)

    starlette = Starlette()
    assert not captures(starlette)
    starlette.add_middleware(ASGIInspectorMiddleware)
    assert captures(starlette)
    assert captures(Starlette(middleware=[Middleware(ASGIBootstrapMiddleware)]))


def test_wrap_says_once_what_it_wrapped_and_what_it_left(tmp_path: Path) -> None:
    code = (
        "from inspector.bootstrap.wrap import wrap\n"
        "from tests.apps.run_apps import asgi_app, asgi_wrapped, wsgi_app\n"
        "app = wrap(asgi_app, 'asgi', 'uvicorn')\n"
        "print(type(app).__name__, wrap(app, 'asgi', 'gunicorn') is app)\n"
        "print(type(wrap(wsgi_app, 'wsgi', 'django', returned_to_app=True)).__name__)\n"
        "print(wrap(asgi_wrapped, 'asgi', 'uvicorn') is asgi_wrapped)\n"
    )
    out, lines = python(code, tmp_path, env={"INSPECTOR_BUS": "off"})
    assert out.splitlines() == ["ASGIBootstrapMiddleware True", "WSGIStandAsideMiddleware", "True"]
    app, pid = f"{APPS}.asgi_app", lines[0]["pid"]
    assert lines[1:] == [
        {"pid": pid, "wrapped": "uvicorn", "interface": "asgi", "app": app},
        {"pid": pid, "wrapped": "django", "interface": "wsgi", "app": f"{APPS}.wsgi_app"},
        {
            "pid": pid,
            "left": "uvicorn",
            "interface": "asgi",
            "app": f"{CAPTURE}.ASGIInspectorMiddleware",
        },
    ]


def test_an_asgi_bootstrap_capture_stands_aside_for_an_outer_one() -> None:
    inner, outer = _Records(), _Records()
    app = ASGIInspectorMiddleware(ASGIStandAsideMiddleware(asgi_app, bus=inner), bus=outer)
    asyncio.run(_get(app))
    assert outer.exchanges() == 1
    assert inner.exchanges() == 0
    alone = _Records()
    asyncio.run(_get(ASGIStandAsideMiddleware(asgi_app, bus=alone)))
    assert alone.exchanges() == 1


def test_a_wsgi_bootstrap_capture_stands_aside_for_an_outer_one() -> None:
    inner, outer = _Records(), _Records()
    app = WSGIInspectorMiddleware(WSGIStandAsideMiddleware(wsgi_app, bus=inner), bus=outer)
    assert _call_wsgi(app) == [b"hello"]
    assert outer.exchanges() == 1
    assert inner.exchanges() == 0
    alone = _Records()
    assert _call_wsgi(WSGIStandAsideMiddleware(wsgi_app, bus=alone)) == [b"hello"]
    assert alone.exchanges() == 1


class _Records:
    """A recorder that keeps what capture records, as it was recorded."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []

    def record(self, *fields: Any) -> None:
        self.records.append(fields)

    def failed(self, exchange_id: str, where: str, exc: BaseException) -> None:
        raise AssertionError(f"capture failed at {where}: {exc!r}")

    def exchanges(self) -> int:
        return len({fields[1] for fields in self.records})


async def _get(app: Callable[..., Any]) -> None:
    scope = {"type": "http", "method": "GET", "path": "/hello", "headers": [], "query_string": b""}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m.get("status", m.get("body")) for m in sent] == [200, b"hello"]


def _call_wsgi(app: Callable[..., Iterable[bytes]]) -> list[bytes]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/hello", "wsgi.input": None}
    result = app(environ, lambda status, headers, exc_info=None: None)
    try:
        return list(result)
    finally:
        getattr(result, "close", lambda: None)()


def test_the_bootstrap_imports_no_observer_side_and_no_ui() -> None:
    banned = ("inspector.observe", "tui", "textual", "rich")
    for path in sorted((ROOT / "inspector" / "bootstrap").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {n for n in names if n.startswith(banned)}, path
