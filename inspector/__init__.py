"""inspector: see what crosses the WSGI/ASGI boundary.

`import inspector` loads the capture side only (the middlewares, the record format, the sink):
wrapping an app stays light. `EventBus` (records built into events in this process, for
embedding and tests) comes from the observer side, loaded when first asked for. The library
never imports the UI (`tui`), textual or rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inspector.capture.asgi import ASGIInspectorMiddleware
from inspector.capture.wsgi import WSGIInspectorMiddleware

if TYPE_CHECKING:
    from inspector.observe.bus import EventBus

__all__ = ["ASGIInspectorMiddleware", "EventBus", "WSGIInspectorMiddleware"]


def __getattr__(name: str) -> Any:
    if name == "EventBus":
        from inspector.observe.bus import EventBus

        return EventBus
    raise AttributeError(f"module 'inspector' has no attribute {name!r}")
