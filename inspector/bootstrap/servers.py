"""Where each server inspector knows loads its app, and the patch that wraps it there.

`sitedir/sitecustomize.py` calls `patch(module)` right after one of these modules has run, so
the patch is in place before anything else reads the patched name (`from werkzeug import
run_simple` binds it after `werkzeug.serving` ran). Each patch takes the narrowest point that
sees the user's app as the server got it, in every process that serves (reloader children and
workers run the bootstrap too), and decides ASGI or WSGI the way that server does:

- `uvicorn.config`: what `load_app` gives `Config.load` (the imported app, or what its factory
  makes); WSGI for `--interface wsgi`, else ASGI.
- `gunicorn.app.base`: `BaseApplication.wsgi()`, the app a worker (or `--preload`) loads; ASGI
  for gunicorn's `asgi` worker, nothing for uvicorn's workers (they hand it to uvicorn's
  `Config`), else WSGI.
- `hypercorn.utils`: `wrap_app`, used by the CLI's loader and `hypercorn.asyncio/trio.serve`;
  `asgi:`/`wsgi:` from the app path, else hypercorn's own guess.
- `granian.server.common`: the target loader `AbstractServer.serve` gives each worker;
  `--interface` (RSGI is left alone).
- `daphne.server`: `Server(application)`, ASGI.
- `waitress.server`: `create_server(application)` (`waitress-serve`, `waitress.serve`), WSGI.
- `werkzeug.serving`: `run_simple(application)` in the process that serves (`flask run`,
  `app.run()`; not a reloader's parent), WSGI.
- `django.core.wsgi`, `django.core.asgi`: what `get_wsgi_application()` and
  `get_asgi_application()` return (`runserver` serves the first), by the getter.

A patch that cannot find what it expects (another version of the server) reports it and
changes nothing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from inspector.bootstrap.wrap import Interface, wrap

_GRANIAN: dict[str, Interface] = {"asgi": "asgi", "asginl": "asgi", "wsgi": "wsgi"}


def patch(module: ModuleType) -> None:
    PATCHES[module.__name__](module)


def _uvicorn(module: ModuleType) -> None:
    load, load_app = module.Config.load, module.Config.load_app

    @functools.wraps(load)
    def wrapped_load(self: Any) -> None:
        # Only the app `load` goes on to serve: `uvicorn.run` also calls `load_app` alone
        # first, to fail early, and drops what it returns.
        self.load_app = functools.partial(_uvicorn_app, self, load_app)
        try:
            load(self)
        finally:
            del self.load_app

    module.Config.load = wrapped_load


def _uvicorn_app(config: Any, load_app: Callable[[Any], Any]) -> Any:
    app = load_app(config)
    interface: Interface = "wsgi" if config.interface == "wsgi" else "asgi"
    if config.factory:
        return _made_by(app, interface)
    # `load` calls the app with no arguments next, to find a factory given without --factory
    # (an app raises TypeError): make that one call here, so such a factory's app is wrapped.
    try:
        made = app()
    except TypeError:
        return wrap(app, interface, "uvicorn")
    return lambda: wrap(made, interface, "uvicorn")


def _made_by(factory: Callable[[], Any], interface: Interface) -> Callable[[], Any]:
    @functools.wraps(factory)
    def make() -> Any:
        return wrap(factory(), interface, "uvicorn")

    return make


def _gunicorn(module: ModuleType) -> None:
    load = module.BaseApplication.wsgi

    @functools.wraps(load)
    def wsgi(self: Any) -> Any:
        app = load(self)
        interface = _gunicorn_interface(module, self.cfg)
        if interface is None:
            return app
        self.callable = wrap(app, interface, "gunicorn")  # later calls return it as it is
        return self.callable

    module.BaseApplication.wsgi = wsgi


def _gunicorn_interface(module: ModuleType, cfg: Any) -> Interface | None:
    """ASGI for gunicorn's own `asgi` worker; None for uvicorn's workers, which hand the app to
    uvicorn's `Config` (patched too); WSGI for the rest. `load_class` only imports: the
    `worker_class` property would also run the class's `setup()` again."""
    worker = module.util.load_class(cfg.settings["worker_class"].get())
    owners = {kind.__module__ for kind in worker.__mro__}
    if any(owner.partition(".")[0] in {"uvicorn", "uvicorn_worker"} for owner in owners):
        return None
    return "asgi" if "gunicorn.workers.gasgi" in owners else "wsgi"


def _hypercorn(module: ModuleType) -> None:
    wrap_app = module.wrap_app

    @functools.wraps(wrap_app)
    def wrapped_wrap_app(app: Any, wsgi_max_body_size: int, mode: Any) -> Any:
        if mode is None:
            mode = "asgi" if module.is_asgi(app) else "wsgi"
        return wrap_app(wrap(app, mode, "hypercorn"), wsgi_max_body_size, mode)

    vars(module)["wrap_app"] = wrapped_wrap_app


def _granian(module: ModuleType) -> None:
    serve = module.AbstractServer.serve

    @functools.wraps(serve)
    def wrapped_serve(
        self: Any,
        spawn_target: Any = None,
        target_loader: Callable[..., Any] | None = None,
        wrap_loader: bool = True,
    ) -> Any:
        interface = _GRANIAN.get(str(self.interface))
        if interface is not None:
            # The loader each worker calls, as serve would build it, then wrapped: a partial
            # of module-level functions, so a spawned worker gets it by pickle.
            if target_loader is None:
                loader: Callable[[], Any] = functools.partial(
                    module.load_target, self.target, wd=self.working_dir, factory=self.factory
                )
            elif wrap_loader:
                loader = functools.partial(target_loader, self.target)
            else:
                loader = target_loader
            target_loader, wrap_loader = functools.partial(_granian_load, loader, interface), False
        return serve(self, spawn_target, target_loader, wrap_loader)

    module.AbstractServer.serve = wrapped_serve


def _granian_load(loader: Callable[[], Any], interface: Interface) -> Any:
    return wrap(loader(), interface, "granian")


def _daphne(module: ModuleType) -> None:
    init = module.Server.__init__

    @functools.wraps(init)
    def wrapped_init(self: Any, application: Any, *args: Any, **kwargs: Any) -> None:
        init(self, wrap(application, "asgi", "daphne"), *args, **kwargs)

    module.Server.__init__ = wrapped_init


def _waitress(module: ModuleType) -> None:
    create_server = module.create_server

    @functools.wraps(create_server)
    def wrapped_create_server(application: Any, *args: Any, **kwargs: Any) -> Any:
        return create_server(wrap(application, "wsgi", "waitress"), *args, **kwargs)

    vars(module)["create_server"] = wrapped_create_server


def _werkzeug(module: ModuleType) -> None:
    run_simple = module.run_simple
    signature = inspect.signature(run_simple)

    @functools.wraps(run_simple)
    def wrapped_run_simple(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        reloading = bound.arguments.get("use_reloader", False)
        if not reloading or module.is_running_from_reloader():  # this process serves
            bound.arguments["application"] = wrap(
                bound.arguments["application"], "wsgi", "werkzeug"
            )
        return run_simple(*bound.args, **bound.kwargs)

    vars(module)["run_simple"] = wrapped_run_simple


def _django_getter(name: str, interface: Interface) -> Callable[[ModuleType], None]:
    def patch_getter(module: ModuleType) -> None:
        getter = getattr(module, name)

        @functools.wraps(getter)
        def wrapped_getter(*args: Any, **kwargs: Any) -> Any:
            return wrap(getter(*args, **kwargs), interface, "django", returned_to_app=True)

        vars(module)[name] = wrapped_getter

    return patch_getter


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "daphne.server": _daphne,
    "django.core.asgi": _django_getter("get_asgi_application", "asgi"),
    "django.core.wsgi": _django_getter("get_wsgi_application", "wsgi"),
    "granian.server.common": _granian,
    "gunicorn.app.base": _gunicorn,
    "hypercorn.utils": _hypercorn,
    "uvicorn.config": _uvicorn,
    "waitress.server": _waitress,
    "werkzeug.serving": _werkzeug,
}
"""What `sitedir/sitecustomize.py` watches (its `WATCHED`), and how each module is patched."""
