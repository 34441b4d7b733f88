"""The `run_apps` routes, wrapped with a recording bus: the app's vantage point for pairing.

`GET /hello` says hello, `POST /echo` answers the body it was sent; the events captured in
the server's process go to the file named by INSPECTOR_TEST_EVENTS (see `recording`).
"""

from __future__ import annotations

from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware
from tests.apps.recording import recording_bus
from tests.apps.run_apps import asgi_app, wsgi_app

asgi = ASGIInspectorMiddleware(asgi_app, bus=recording_bus())
wsgi = WSGIInspectorMiddleware(wsgi_app, bus=recording_bus())
