"""The framework x server matrix: each stack described once, as its users run it.

A stack is a framework's app (`tests/apps/stacks`) under a server, started by the command line
its docs give, with `{app}` standing for the app (bare or wrapped in code) and `{port}` for a
free port on 127.0.0.1. The first word is a command of this venv (`python` is its interpreter).
A variant that wraps the app with no code change runs the same line, with the bare app, under
it.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BIN = Path(sys.executable).parent
APPS = "tests.apps.stacks"


@dataclass(frozen=True)
class Stack:
    framework: str
    server: str
    command: str
    interface: Literal["wsgi", "asgi"]
    bare: str
    """What `{app}` is for the bare app; the wrapped one is the same with `wrapped` for `app`
    (or `settings_wrapped` for `settings`)."""
    websocket: bool = False

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.server}"

    @property
    def wrapped(self) -> str:
        module, colon, _ = self.bare.rpartition(":")
        return f"{module}:wrapped" if colon else f"{self.bare}_wrapped"

    def argv(self, app: str, port: int) -> list[str]:
        program, *args = shlex.split(self.command.format(app=app, port=port))
        return [sys.executable if program == "python" else str(BIN / program), *args]


DJANGO_WSGI = f"{APPS}.django_site.wsgi:app"
DJANGO_ASGI = f"{APPS}.django_site.asgi:app"
GUNICORN = "gunicorn {app} --bind 127.0.0.1:{port}"
UVICORN = "uvicorn {app} --port {port}"
HYPERCORN = "hypercorn --bind 127.0.0.1:{port} {app}"
GRANIAN_ASGI = "granian --interface asgi --host 127.0.0.1 --port {port} {app}"
GRANIAN_WSGI = "granian --interface wsgi --host 127.0.0.1 --port {port} {app}"

STACKS = [
    Stack("django-wsgi", "gunicorn-sync", GUNICORN + " --worker-class sync", "wsgi", DJANGO_WSGI),
    Stack(
        "django-wsgi",
        "gunicorn-gthread",
        GUNICORN + " --worker-class gthread --threads 4",
        "wsgi",
        DJANGO_WSGI,
    ),
    Stack(
        "django-wsgi",
        "runserver",
        "python tests/apps/stacks/manage.py runserver --noreload --settings {app} 127.0.0.1:{port}",
        "wsgi",
        f"{APPS}.django_site.settings",
    ),
    Stack("django-asgi", "uvicorn", UVICORN, "asgi", DJANGO_ASGI, websocket=True),
    Stack(
        "django-asgi",
        "daphne",
        "daphne --bind 127.0.0.1 --port {port} {app}",
        "asgi",
        DJANGO_ASGI,
        websocket=True,
    ),
    Stack(
        "flask", "werkzeug", "flask --app {app} run --port {port}", "wsgi", f"{APPS}.flask_app:app"
    ),
    Stack("flask", "gunicorn", GUNICORN, "wsgi", f"{APPS}.flask_app:app"),
    Stack(
        "flask",
        "waitress",
        "waitress-serve --listen=127.0.0.1:{port} {app}",
        "wsgi",
        f"{APPS}.flask_app:app",
    ),
    Stack("fastapi", "uvicorn", UVICORN, "asgi", f"{APPS}.fastapi_app:app", websocket=True),
    Stack("fastapi", "hypercorn", HYPERCORN, "asgi", f"{APPS}.fastapi_app:app", websocket=True),
    Stack("litestar", "uvicorn", UVICORN, "asgi", f"{APPS}.litestar_app:app", websocket=True),
    Stack(
        "litestar",
        "granian",
        GRANIAN_ASGI,
        "asgi",
        f"{APPS}.litestar_app:app",
        websocket=True,
    ),
    Stack("quart", "hypercorn", HYPERCORN, "asgi", f"{APPS}.quart_app:app", websocket=True),
    Stack(
        "plain-wsgi",
        "granian",
        GRANIAN_WSGI,
        "wsgi",
        f"{APPS}.plain_wsgi:app",
    ),
]
