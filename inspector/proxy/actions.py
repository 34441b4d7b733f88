"""What a `Connection` asks of the world (`Io`), and the small words its parts share: why a
side's reads are paused, what follows the end of a response, and the upstream connection's
state. Nothing here decides anything; it sits below `connection`, `clocks`, `responses` and
`holder`, so that each of them can be read without the others.
"""

from __future__ import annotations

from typing import Protocol

# Why the client's reads are paused (a bit each): reading resumes when none is left.
FULL, CONNECTING, HOLDING, STOPPED, HELD = 1, 2, 4, 8, 16
# Why the upstream's reads are paused: the client reads nothing, or the viewer holds what the
# upstream sent (a response, or WebSocket messages past the queue's bound).
CLIENT_FULL, KEPT = 1, 2
# What is done once the upstream bytes just read were written to the client.
CLOSE, RESUME, IDLE = 1, 2, 4
# The upstream connection.
NONE, OPENING, OPEN = 0, 1, 2

TIMEOUT = "inspector.proxy.RequestTimeout"
SEND_TIMEOUT = "inspector.proxy.SendTimeout"
BAD_REQUEST = "inspector.proxy.BadRequest"


class Io(Protocol):
    """What a `Connection` asks of the world (the asyncio adapters, or a test)."""

    def to_client(self, data: bytes) -> None: ...

    def to_upstream(self, data: bytes) -> None: ...

    def pause_client(self) -> None: ...

    def resume_client(self) -> None: ...

    def pause_upstream(self) -> None: ...

    def resume_upstream(self) -> None: ...

    def connect(self) -> None:
        """Open a new upstream connection: `upstream_connected` or `upstream_unreachable`
        follows."""

    def close_upstream(self, reset: bool) -> None:
        """Close the upstream connection (opening or open; `reset`: abort it, dropping what
        it has not sent): nothing more is heard from it."""

    def close_client(self, reset: bool) -> None:
        """Close the client's connection once what was written is sent (`reset`: now, with a
        TCP RST); `client_lost` follows."""

    def wake_at(self, deadline: int) -> None:
        """Call `tick` once at `deadline` (nanoseconds on `now_ns`'s clock), instead of any
        wake asked before."""
