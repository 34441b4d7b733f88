"""The Channels WebSocket consumer: an echo that closes with 4001 "bye" when told "close"."""

# mypy: allow-subclassing-any, disable-error-code="import-untyped"

from __future__ import annotations

from channels.generic.websocket import WebsocketConsumer

from tests.apps.stacks import CLOSE_CODE, CLOSE_REASON


class Echo(WebsocketConsumer):
    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "close":
            self.close(CLOSE_CODE, CLOSE_REASON)
        elif text_data is not None:
            self.send(text_data=text_data)
        else:
            self.send(bytes_data=bytes_data)
