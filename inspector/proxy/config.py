"""The proxy's configuration: where it listens, where it forwards, and what it keeps.

`parse_address` reads the address forms the CLI accepts (`PORT`, `:PORT`, `HOST`,
`HOST:PORT`, `http://HOST[:PORT]`); `ProxyConfig` is the one frozen object a `Proxy` is built
from, like uvicorn's `Config` behind its CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inspector.records import DEFAULT_BODY_LIMIT
from inspector.redact import Redact, redaction_names

DEFAULT_MAX_WS_MESSAGES = 10_000

_IPV6 = r"\[[0-9A-Fa-f:.]+\]"
_NAME = r"[A-Za-z0-9_.-]+"
_ADDRESS = re.compile(
    rf"(?:http://)?(?:(?P<host>{_IPV6}|{_NAME})?:(?P<port>[0-9]{{1,5}})"  # [HOST]:PORT
    rf"|(?P<bare>[0-9]{{1,5}})"  # PORT
    rf"|(?P<alone>{_IPV6}|{_NAME}))/?"  # HOST
)
_FORMS = "PORT, :PORT, HOST, HOST:PORT or http://HOST[:PORT]"


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """`8000`, `:8000`, `localhost:8000`, `http://10.0.0.2:8000`, `[::1]:8000` as (host, port).

    A host alone (`localhost`, `http://example.com`) means port 80, as curl reads it; a
    number alone is a port. Port 0 is accepted (bind to any free port). Anything else raises
    ValueError naming the accepted forms.
    """
    match = _ADDRESS.fullmatch(text.strip())
    if match is None or (match["alone"] or "").isdigit():  # 123456: no port, nor a host name
        raise ValueError(f"not an address: {text!r} (expected {_FORMS})")
    if match["alone"]:
        return match["alone"].strip("[]"), 80
    port = int(match["port"] or match["bare"])
    if port > 65535:
        raise ValueError(f"not an address: {text!r} (a port is at most 65535; expected {_FORMS})")
    return (match["host"] or default_host).strip("[]"), port


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """upstream: the one server requests are forwarded to (never any other: no open proxy).
    listen: where the proxy accepts connections (port 0: any free port, see `Proxy.port`).
    body_limit: bytes of body kept per direction per exchange, and per WebSocket message.
    connect_timeout: seconds to open the upstream connection before answering 502.
    response_timeout: seconds to wait for a response head once the request was sent: 504.
    idle_timeout: seconds a client connection may stay open with no request in flight and no
        bytes before it is closed (nginx's keepalive_timeout); nothing is recorded.
    header_timeout: seconds from a request head's first byte to its end before the proxy
        answers 408 (nginx's client_header_timeout), recorded as a failed exchange.
    body_timeout: seconds between two successive reads of a request body before the proxy
        answers 408, or closes if a response started (nginx's client_body_timeout).
    send_timeout: seconds a write to either side may make no progress (its peer reads
        nothing) before both connections close (nginx's send_timeout); recorded.
    backlog: the listening socket's queue of connections not accepted yet (uvicorn's 2048).
    max_ws_messages: WebSocket messages recorded per connection; later ones pass unrecorded.
    hold_timeout: seconds the viewer may hold a request, response or message (intercept)
        before it is forwarded unchanged.
    redact: header names masked in captured events, as in `CaptureOptions` (one name,
        several, True for the usual secrets, False or None); kept as the set of lower-case
        names it means. What is forwarded is never changed.
    """

    upstream: tuple[str, int]
    listen: tuple[str, int] = ("127.0.0.1", 8080)
    body_limit: int = DEFAULT_BODY_LIMIT
    connect_timeout: float = 10.0
    response_timeout: float = 60.0
    idle_timeout: float = 75.0
    header_timeout: float = 60.0
    body_timeout: float = 60.0
    send_timeout: float = 60.0
    backlog: int = 2048
    max_ws_messages: int = DEFAULT_MAX_WS_MESSAGES
    redact: Redact = False
    hold_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.body_limit < 0:
            raise ValueError("body_limit must be >= 0")
        timeouts = (
            self.connect_timeout,
            self.response_timeout,
            self.idle_timeout,
            self.header_timeout,
            self.body_timeout,
            self.send_timeout,
            self.hold_timeout,
        )
        if not all(timeout > 0 for timeout in timeouts):
            raise ValueError("timeouts must be > 0")
        if self.backlog < 1:
            raise ValueError("backlog must be >= 1")
        if self.max_ws_messages < 0:
            raise ValueError("max_ws_messages must be >= 0")
        object.__setattr__(self, "redact", redaction_names(self.redact))

    @property
    def upstream_text(self) -> str:
        return format_address(self.upstream)


def format_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
