"""Apps named on the command line as `module:attr` (uvicorn's and gunicorn's notation): found,
imported and told apart (ASGI or WSGI), for in-process replay and tests from traffic.

The working directory comes first on the import path, as with uvicorn, so `myapp:app` finds
`./myapp.py`. An ASGI app is a coroutine function or an object whose `__call__` is one
(Starlette, FastAPI, Django's ASGIHandler, our middleware); anything else callable is taken
for WSGI (PEP 3333: `app(environ, start_response)`). Every failure is an `AppError` with one
sentence for the command line.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal


class AppError(ValueError):
    """An app that cannot be found, imported or called: the sentence says which."""


@dataclass(frozen=True, slots=True)
class LoadedApp:
    target: str
    """`module:attr` as given."""
    app: Any
    kind: Literal["asgi", "wsgi"]


def check_target(target: str) -> str:
    """`target` if it reads as `module:attr`, else AppError (before anything is imported)."""
    module, sep, attr = target.partition(":")
    names = [*module.split("."), *attr.split(".")]
    if not sep or not all(name.isidentifier() for name in names):
        raise AppError(f"--app takes module:attr (as uvicorn does: myapp:app), not {target!r}")
    return target


def load_app(target: str) -> LoadedApp:
    """Import `module:attr` and tell what kind of app it is."""
    module_name, _, attr = check_target(target).partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # the app's own import may fail any way: say how, in one line
        raise AppError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    for name in attr.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            raise AppError(f"{module_name} has no attribute {attr!r}") from None
    if not callable(found):
        raise AppError(f"{target} is not an app: a {type(found).__name__} cannot be called")
    return LoadedApp(target, found, app_kind(found))


def app_kind(app: Any) -> Literal["asgi", "wsgi"]:
    """ASGI if calling it gives a coroutine (a coroutine function, or an object whose
    `__call__` is one), else WSGI."""
    call = app if inspect.isroutine(app) or inspect.isclass(app) else type(app).__call__
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app):
        return "asgi"
    return "wsgi"
