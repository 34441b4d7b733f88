"""WebSocket messages queued behind a held one are bounded: past `QUEUE_LIMIT` bytes the
sender's reads pause, and resume once the viewer lets the queue go. Without sockets: the fake
`Io` and clock of `test_connection`."""

from __future__ import annotations

import pytest

from inspector.observe.rules import compile_rule
from inspector.proxy.steered import QUEUE_LIMIT
from inspector.proxy.websocket import BINARY, TEXT, encode_message
from tests.inspector.proxy.test_connection import Harness
from tests.inspector.proxy.test_intercept_http_connection import Timers

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def tunnel(rule: str) -> Harness:
    h = Harness()
    h.shared.steering.schedule = Timers()
    h.shared.steering.arm(compile_rule(rule, "messages"), None, None)
    h.connection.client_data(UPGRADE)
    h.open()
    h.connection.upstream_data(SWITCHING)
    h.io.take()
    return h


@pytest.mark.parametrize("sender", ["client", "server"])
def test_a_queue_past_its_bound_pauses_its_sender_until_released(sender: str) -> None:
    h = tunnel("~b hold")
    masked = sender == "client"
    feed = h.connection.client_data if masked else h.connection.upstream_data
    pause, resume, sent = (
        ("pause_client", "resume_client", "to_upstream")
        if masked
        else ("pause_upstream", "resume_upstream", "to_client")
    )
    held = encode_message(TEXT, b"hold me", masked=masked)
    feed(held)
    (number,) = h.shared.steering.holds
    piece = encode_message(BINARY, b"x" * 65536, masked=masked)
    frames = [held]
    while sum(map(len, frames)) <= QUEUE_LIMIT:
        assert (pause,) not in h.io.log
        feed(piece)
        frames.append(piece)
    assert h.io.take() == [(pause,)]  # and nothing went to the peer
    h.shared.steering.release(number, "forward", {})
    assert h.io.sent(sent) == b"".join(frames)  # in order
    assert (resume,) in h.io.log
