"""The relay's control socket: the one way the viewer acts on traffic (inject, intercept,
release).

`ControlServer(path, steering)` listens on a Unix socket at `path` (in the observer child's
0700 directory), made 0600 before it accepts anyone; nothing else (not the collector's
socket, not TCP, token or not) reaches `Steering`. Frames are a 4-byte big-endian length and
a msgpack map; each request (`"op"`: inject, intercept, release, release_all) gets one reply,
`{"ok": true}` or `{"error": "<a sentence for the viewer>"}`; intercept's says how many open
WebSocket connections the messages rule cannot read the compressed messages of (`"blind"`).
It runs in the relay's own loop, so actions reach the connections between their reads, never
during one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import msgspec

from inspector.matching import Rule, decode_rule
from inspector.proxy.holds import ActionError, Steering
from inspector.wire import FrameReader, WireError, frame

MAX_REQUEST = 64 << 20
"""The longest request accepted: an inject or an edited body of a few tens of MiB."""

_encode = msgspec.msgpack.encode
_decode = msgspec.msgpack.Decoder(dict[str, Any]).decode


class ControlServer:
    def __init__(self, path: str, steering: Steering) -> None:
        self.path = path
        self.steering = steering
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old = os.umask(0o177)  # created 0600: no moment when another user could connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._clients):
            writer.close()
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        frames = FrameReader(MAX_REQUEST)
        try:
            while data := await reader.read(1 << 16):
                for payload in frames.feed(data):
                    writer.write(frame(_encode(self.act(payload))))
                await writer.drain()
        except (OSError, WireError):
            pass  # a viewer gone, or one that spoke nonsense: only its connection ends
        finally:
            self._clients.discard(writer)
            writer.close()

    def act(self, payload: bytes) -> dict[str, Any]:
        """One request's reply."""
        try:
            request = _decode(payload)
            reply = self._act(request)
        except ActionError as exc:
            return {"error": str(exc)}
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError) as exc:
            return {"error": f"a malformed control request ({exc})"}
        return reply

    def _act(self, request: dict[str, Any]) -> dict[str, Any]:
        steering = self.steering
        op = request.get("op")
        if op == "inject":
            xid, to = request["exchange"], request["to"]
            payload = request["payload"]
            if to not in ("server", "client") or not isinstance(payload, bytes):
                raise ActionError("inject needs `to` (server or client) and a bytes payload")
            tunnel = steering.tunnels.get(xid)
            if tunnel is None:
                raise ActionError(
                    f"exchange {xid} is no open WebSocket connection of this proxy (closed,"
                    " not a WebSocket, or unknown)"
                )
            tunnel.inject(to, request["opcode"], payload)
        elif op == "intercept":
            blind = steering.arm(
                _rule(request.get("messages")),
                _rule(request.get("requests")),
                _rule(request.get("responses")),
            )
            return {"ok": True, "blind": blind}
        elif op == "release":
            action = request["action"]
            change = {k: request.get(k) for k in ("opcode", "payload", "head", "body")}
            steering.release(int(request["hold"]), action, change)
        elif op == "release_all":
            action = request["action"]
            if action not in ("forward", "drop"):
                raise ActionError("release_all forwards or drops")
            steering.release_all(action)
        else:
            raise ActionError(f"unknown control request {op!r}")
        return {"ok": True}


def _rule(value: Any) -> Rule | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return decode_rule(value)
    rule: Rule = msgspec.convert(value, Rule)
    return rule
