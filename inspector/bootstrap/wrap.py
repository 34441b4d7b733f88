"""Wrapping a server's app exactly once, even when the app also captures in code.

Three cases meet here, and each exchange must be recorded once:
- The app is a capture middleware, or has one inside it where middleware chains keep their
  app (`app`, `wsgi_app`, `application`; Starlette's `user_middleware` for
  `app.add_middleware(ASGIInspectorMiddleware)`): it is left as it is, with the options its
  author chose.
- A capture wraps what the bootstrap wrapped (Django's `application =
  WSGIInspectorMiddleware(get_wsgi_application())`, with `get_wsgi_application` patched): the
  bootstrap's middleware there sees the exchange id the outer one put in the scope or environ,
  and stands aside for that exchange.
- Two hooks meet in one process (Django's getter, then gunicorn's loader): the second finds the
  first's middleware and leaves it.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from typing import Any, Literal

from inspector.bootstrap.report import report
from inspector.capture.asgi import ASGIInspectorMiddleware, Receive, Scope, Send
from inspector.capture.wsgi import Environ, StartResponse, WSGIInspectorMiddleware

Interface = Literal["asgi", "wsgi"]
_CAPTURES = (ASGIInspectorMiddleware, WSGIInspectorMiddleware)
_INNER = ("app", "wsgi_app", "application")
_DEPTH = 16
_MARK = "inspector.exchange_id"
_said: set[tuple[int, int]] = set()
"""(pid, id) of the apps reported: a fork inherits this set, and reports again under its pid."""


class ASGIBootstrapMiddleware(ASGIInspectorMiddleware):
    """The capture `inspector run` puts around an ASGI app where a server loads it: the
    middleware itself, under a name that says who put it there."""


class WSGIBootstrapMiddleware(WSGIInspectorMiddleware):
    """The capture `inspector run` puts around a WSGI app where a server loads it."""


class ASGIStandAsideMiddleware(ASGIBootstrapMiddleware):
    """The capture `inspector run` puts around an ASGI app that the app's own code gets back
    (Django's `get_asgi_application()`), and may wrap in a capture of its own: it stands
    aside for an exchange such an outer capture records. (Only here: the check costs each
    request an extra coroutine.)"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _MARK in scope:
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class WSGIStandAsideMiddleware(WSGIBootstrapMiddleware):
    """The WSGI one (Django's `get_wsgi_application()`)."""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if _MARK in environ:
            return self.app(environ, start_response)
        return super().__call__(environ, start_response)


_BOOTSTRAP = (ASGIBootstrapMiddleware, WSGIBootstrapMiddleware)
_MIDDLEWARE: dict[tuple[Interface, bool], Callable[[Any], Any]] = {
    ("asgi", False): ASGIBootstrapMiddleware,
    ("wsgi", False): WSGIBootstrapMiddleware,
    ("asgi", True): ASGIStandAsideMiddleware,
    ("wsgi", True): WSGIStandAsideMiddleware,
}


def wrap(app: Any, interface: Interface, server: str, *, returned_to_app: bool = False) -> Any:
    """`app` wrapped in the capture for `interface`, or `app` itself when it captures already;
    reported once per app and process. `returned_to_app`: the app's code gets the result (and
    may wrap it in a capture of its own)."""
    if isinstance(app, _BOOTSTRAP):  # by another hook, or in the parent of a fork (--preload)
        _say(app, wrapped=server, interface=interface, app=_name(app.app))
        return app
    if captures(app):
        _say(app, left=server, interface=interface, app=_name(app))
        return app
    wrapped = _MIDDLEWARE[interface, returned_to_app](app)
    _say(wrapped, wrapped=server, interface=interface, app=_name(app))
    return wrapped


def _say(about: Any, **fields: Any) -> None:
    key = (os.getpid(), id(about))
    if key not in _said:
        _said.add(key)
        report(**fields)


_BOOTSTRAP = (ASGIBootstrapMiddleware, WSGIBootstrapMiddleware)


def captures(app: Any) -> bool:
    """Whether a capture middleware is `app`, or sits inside it where middleware chains keep
    the app they wrap. Reads attributes statically: no property or `__getattr__` runs."""
    seen: set[int] = set()
    todo = [app]
    while todo and len(seen) < _DEPTH:
        item = todo.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, _CAPTURES):
            return True
        stack = _static(item, "user_middleware")
        for spec in stack if isinstance(stack, list | tuple) else ():
            cls = _static(spec, "cls")
            if isinstance(cls, type) and issubclass(cls, _CAPTURES):
                return True
        todo += [_static(item, name) for name in _INNER]
    return False


def _static(item: Any, name: str) -> Any:
    """An attribute set on the object itself (or a plain class attribute), never computed."""
    try:
        value = inspect.getattr_static(item, name)
    except (AttributeError, TypeError):
        return None
    if inspect.ismemberdescriptor(value):  # a __slots__ attribute: reading it runs no code
        return getattr(item, name, None)
    if isinstance(value, property | staticmethod | classmethod) or inspect.isroutine(value):
        return None
    return value


def _name(app: Any) -> str:
    """`module.name` of a function or class, else of the object's type."""
    named = app if inspect.isroutine(app) or isinstance(app, type) else type(app)
    return f"{named.__module__}.{named.__qualname__}"
