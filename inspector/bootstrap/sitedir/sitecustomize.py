"""Runs at start-up in every Python process of `inspector run`'s command.

`inspector run` puts this directory first on PYTHONPATH, so Python imports this file as
`sitecustomize` while it starts (as `opentelemetry-instrument` and `ddtrace-run` do). It does
three things, none of which may break the process or change its output:

1. It reports this interpreter, and whether it can import inspector at all (a command from
   another virtualenv cannot: `inspector run` then says which interpreter, and how to install).
2. It watches for the modules in which the servers inspector knows load an app (`WATCHED`).
   When the program imports one, the module runs as usual and is then patched by
   `inspector.bootstrap.servers`, so the app it loads gets wrapped. Nothing is imported ahead
   of the program, inspector included: a process that never imports a server pays one set
   lookup per import.
3. It runs the `sitecustomize` this one hides (the next one on sys.path), as Python would have.

Standard library only, and plain enough for any Python 3 the command may run: inspector
itself may not be importable here.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from types import ModuleType
from typing import Any

WATCHED = frozenset(
    {
        "daphne.server",
        "django.core.asgi",
        "django.core.wsgi",
        "granian.server.common",
        "gunicorn.app.base",
        "hypercorn.utils",
        "uvicorn.config",
        "waitress.server",
        "werkzeug.serving",
    }
)
"""Modules patched once they ran: the keys of `inspector.bootstrap.servers.PATCHES`."""

_HERE = os.path.dirname(os.path.realpath(__file__))


def _report(**fields: Any) -> None:
    # The line `inspector.bootstrap.report.report` writes; that module may not be importable.
    path = os.environ.get("INSPECTOR_RUN_REPORT")
    if not path:
        return
    try:
        line = json.dumps(dict(pid=os.getpid(), **fields)).encode() + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:
        pass


class _Watcher:
    """A meta path finder that steps in for watched modules only: it finds them with the
    other finders, then gives them a loader that patches them once they have run."""

    def find_spec(
        self, name: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in WATCHED:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)  # type: ignore[assignment]
        return spec


class _PatchingLoader:
    """The module's own loader, then the patch."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Whoever looks later (inspect.getsource, importlib.resources) sees the real loader.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        try:
            from inspector.bootstrap.servers import patch

            patch(module)
        except Exception as exc:
            _report(failed=module.__name__, error=f"{type(exc).__name__}: {exc}")
        else:
            _report(hooked=module.__name__)


def _run_hidden_sitecustomize() -> None:
    """Run the `sitecustomize` that would have run without this directory on the path, and
    leave it as the `sitecustomize` module, as it would have been."""
    path = [entry for entry in sys.path if os.path.realpath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _start() -> None:
    try:
        importable = importlib.util.find_spec("inspector") is not None
        _report(
            started=True,
            python=sys.executable,
            version=".".join(map(str, sys.version_info[:3])),
            inspector=importable,
        )
        if importable:
            sys.meta_path.insert(0, _Watcher())
    except Exception as exc:
        _report(failed="sitecustomize", error=f"{type(exc).__name__}: {exc}")


if __name__ == "sitecustomize":  # imported by `site`, not by a test or a type checker
    _start()
    _run_hidden_sitecustomize()  # its failures are its own: `site` reports them as it would
