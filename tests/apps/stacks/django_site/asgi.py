"""ASGI entry point, HTTP by Django and WebSocket by Channels: bare `app`, and `wrapped`."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from inspector import ASGIInspectorMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.apps.stacks.django_site.settings")
django_app = get_asgi_application()  # sets Django up before the consumer is imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from tests.apps.stacks.django_site.consumers import Echo  # noqa: E402

app = ProtocolTypeRouter({"http": django_app, "websocket": URLRouter([path("ws", Echo.as_asgi())])})
wrapped = ASGIInspectorMiddleware(app)
