"""The reverse proxy: a byte-faithful HTTP/1.1 and WebSocket relay that records what passes.

    config = ProxyConfig(upstream=parse_address(":8000"), listen=("127.0.0.1", 0))
    proxy = Proxy(config, recorder)  # an EventBus, or a Sink to a viewer
    await proxy.start()  # then proxy.port; later: await proxy.close()

Each client connection gets its own upstream connection; bytes are forwarded exactly as read,
and small observers (`http1`, `websocket`) find message boundaries and record what crossed
them, raw (`inspector.records`): the observer builds the same events as for the capture
middleware from them. This is the hot side: it never imports `inspector.observe`. It forwards
only to its upstream: it is never an open proxy.
"""

from __future__ import annotations

from inspector.proxy.config import ProxyConfig, parse_address
from inspector.proxy.server import Proxy

__all__ = ["Proxy", "ProxyConfig", "parse_address"]
