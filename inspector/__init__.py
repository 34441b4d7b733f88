"""inspector: see what crosses the WSGI/ASGI boundary.

The library: event vocabulary, bus, exchange fold, codec and the capture middlewares. It uses
the standard library only and never imports the UI (`tui`), textual or rich.
"""

from inspector.bus import EventBus, default_bus
from inspector.capture.asgi import ASGIInspectorMiddleware
from inspector.capture.wsgi import WSGIInspectorMiddleware

__all__ = ["ASGIInspectorMiddleware", "EventBus", "WSGIInspectorMiddleware", "default_bus"]
