"""The viewer's end of the relay's control socket (see `inspector.proxy.control`).

`ControlClient(path)` opens the 0600 Unix socket the relay passed as `listen --control PATH`
on first use, sends one request at a time (a 4-byte length and a msgpack map) and waits for
its reply. Each method returns when the relay has acted, or raises `ActionError` with the
relay's sentence, or "the proxy's control socket is gone" when it cannot be reached. Filter
texts are compiled here (`compile_rule`), so a mistake raises `FilterError` before anything
is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import msgspec

from inspector.observe.rules import Kind, compile_rule
from inspector.wire import FrameReader, WireError, frame

GONE = "the proxy's control socket is gone"


class ActionError(Exception):
    """The relay did not act; `str()` is the sentence to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ControlClient:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames = FrameReader()
        self._lock: asyncio.Lock | None = None

    async def inject(self, exchange_id: str, to: str, opcode: int, payload: bytes) -> None:
        await self._ask(
            {
                "op": "inject",
                "exchange": exchange_id,
                "to": to,
                "opcode": opcode,
                "payload": payload,
            }
        )

    async def intercept(
        self, messages: str | None, requests: str | None, responses: str | None
    ) -> int:
        """Arms the rules given (filter texts), disarms those that are None. Returns how many
        open WebSocket connections compress with context takeover and opened before the
        messages rule: their compressed messages match on direction, type and size, never
        on content, until they reconnect."""
        rules = {
            "messages": _rule(messages, "messages"),
            "requests": _rule(requests, "requests"),
            "responses": _rule(responses, "responses"),
        }
        reply = await self._ask({"op": "intercept", **rules})
        blind = reply.get("blind", 0)
        return blind if isinstance(blind, int) else 0

    async def release(
        self,
        hold: int,
        action: str,
        *,
        opcode: int | None = None,
        payload: bytes | None = None,
        head: bytes | None = None,
        body: bytes | None = None,
    ) -> None:
        request: dict[str, Any] = {"op": "release", "hold": hold, "action": action}
        for key, value in (
            ("opcode", opcode),
            ("payload", payload),
            ("head", head),
            ("body", body),
        ):
            if value is not None:
                request[key] = value
        await self._ask(request)

    async def release_all(self, action: str) -> None:
        await self._ask({"op": "release_all", "action": action})

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one request, one reply: never two interleaved
            reply = await self._exchange(msgspec.msgpack.encode(request))
        error = reply.get("error")
        if error is not None:
            raise ActionError(str(error))
        return reply

    async def _exchange(self, payload: bytes) -> dict[str, Any]:
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_unix_connection(self.path)
                self._frames = FrameReader()
            reader, writer = self._reader, self._writer
            assert reader is not None
            writer.write(frame(payload))
            await writer.drain()
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    raise ConnectionError("closed")
                replies = self._frames.feed(data)
                if replies:
                    reply = msgspec.msgpack.decode(replies[0])
                    return reply if isinstance(reply, dict) else {"error": GONE}
        except (OSError, WireError, msgspec.DecodeError):
            await self.close()
            raise ActionError(GONE) from None


def _rule(text: str | None, kind: Kind) -> Any:
    return None if text is None else msgspec.to_builtins(compile_rule(text, kind))
