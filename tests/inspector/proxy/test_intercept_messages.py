"""Intercept WebSocket messages: held when a rule matches, later ones queued behind, control
frames never held; released forwarded, edited or dropped; timed out; lost with their
connection; compressed ones editable only without context takeover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from inspector import events as ev
from inspector.observe.control import ActionError
from tests.inspector.proxy.conftest import MakeProxy
from tests.inspector.proxy.steering import Steered


@pytest.fixture
def steered(make_proxy: MakeProxy, tmp_path: Path) -> Iterator[Steered]:
    steered = Steered(make_proxy(hold_timeout=30), tmp_path / "control.sock")
    yield steered
    steered.stop()


def _url(steered: Steered) -> str:
    return f"ws://127.0.0.1:{steered.proxy.port}/ws/echo"


def test_hold_queue_forward_edit_drop(steered: Steered) -> None:
    steered.act(lambda c: c.intercept("~from client & ~b secret", None, None))
    with connect(_url(steered), compression=None) as ws:
        ws.send("secret one")
        (held,) = steered.held(1)
        assert (held.what, held.sender, held.opcode, held.body, held.size) == (
            "message",
            "client",
            1,
            b"secret one",
            10,
        )
        assert held.editable == ""
        ws.send("plain")  # queued behind the held one: order is kept
        ws.ping(b"p").wait(5)  # control frames are never held
        steered.act(lambda c: c.release(held.hold, "forward"))
        assert ws.recv(5) == "secret one"
        assert ws.recv(5) == "plain"
        ws.send("secret two")
        second = steered.held(2)[1]
        steered.act(lambda c: c.release(second.hold, "edit", opcode=1, payload=b"edited"))
        assert ws.recv(5) == "edited"
        ws.send("secret three")
        third = steered.held(3)[2]
        ws.send("next")
        steered.act(lambda c: c.release(third.hold, "drop"))
        assert ws.recv(5) == "next"
        with pytest.raises(ActionError, match="not held any more"):
            steered.act(lambda c: c.release(third.hold, "forward"))
        steered.act(lambda c: c.intercept(None, None, None))
        ws.send("secret four")
        assert ws.recv(5) == "secret four"
    (exchange,) = steered.proxy.exchanges(1)
    actions = [(e.hold, e.action) for e in exchange.events if isinstance(e, ev.HoldReleased)]
    assert actions == [(held.hold, "forwarded"), (second.hold, "edited"), (third.hold, "dropped")]
    client = [m.text for m in exchange.messages if m.sender == "client"]
    assert client == ["secret one", "plain", "edited", "next", "secret four"]
    assert exchange.holds == {}


def test_a_held_message_times_out_forwarded(make_proxy: MakeProxy, tmp_path: Path) -> None:
    steered = Steered(make_proxy(hold_timeout=0.2), tmp_path / "control.sock")
    try:
        steered.act(lambda c: c.intercept("~text", None, None))
        with connect(_url(steered)) as ws:
            ws.send("wait for me")
            assert steered.held(1)[0].body == b"wait for me"
            # The server's echo is held too (a text message), then both time out.
            assert ws.recv(10) == "wait for me"
        released = steered.released(2)
        assert [r.action for r in released] == ["timed out", "timed out"]
    finally:
        steered.stop()


def test_a_held_message_whose_connection_dies_is_lost(steered: Steered) -> None:
    steered.act(lambda c: c.intercept("~from client", None, None))
    with connect(_url(steered)) as ws, connect(_url(steered)) as other:
        ws.send("never")
        (held,) = steered.held(1)
        ws.close()
    (released,) = steered.released(1)
    assert (released.hold, released.action) == (held.hold, "lost")
    with pytest.raises(ActionError, match="not held any more"):
        steered.act(lambda c: c.release(held.hold, "forward"))
    del other


def test_the_others_go_on_while_one_is_held(steered: Steered) -> None:
    steered.act(lambda c: c.intercept("~from client ~b hold", None, None))
    with connect(_url(steered)) as ws, connect(_url(steered)) as other:
        ws.send("hold me")
        assert steered.held(1)[0].body == b"hold me"
        other.send("free")
        assert other.recv(5) == "free"
        steered.act(lambda c: c.release_all("forward"))
        assert ws.recv(5) == "hold me"


def _deflate(no_takeover: bool) -> list[ClientPerMessageDeflateFactory]:
    return [
        ClientPerMessageDeflateFactory(
            client_no_context_takeover=no_takeover, server_no_context_takeover=no_takeover
        )
    ]


def test_compressed_with_context_takeover_is_forward_only(steered: Steered) -> None:
    assert steered.act(lambda c: c.intercept("~from client & ~b a", None, None)) == 0
    with connect(_url(steered), compression=None, extensions=_deflate(False)) as ws:
        ws.send("a" * 1000)  # compressed (RSV1), in the client's shared context
        (held,) = steered.held(1)
        assert "compression context" in held.editable
        assert held.body == b"a" * 1000  # inflated: the relay kept the context from the start
        with pytest.raises(ActionError, match="compression context"):
            steered.act(lambda c: c.release(held.hold, "drop"))
        with pytest.raises(ActionError, match="compression context"):
            steered.act(lambda c: c.release(held.hold, "edit", opcode=1, payload=b"x"))
        steered.act(lambda c: c.release(held.hold, "forward"))
        assert ws.recv(5) == "a" * 1000
        ws.send("a" * 999 + "b")  # inflated in the same context, after the first
        second = steered.held(2)[1]
        assert second.body == b"a" * 999 + b"b"
        steered.act(lambda c: c.release(second.hold, "forward"))
        assert ws.recv(5) == "a" * 999 + "b"
        steered.act(lambda c: c.intercept(None, None, None))
        ws.send("b" * 1000)
        assert ws.recv(5) == "b" * 1000


def test_armed_mid_connection_a_shared_context_cannot_be_read(steered: Steered) -> None:
    with connect(_url(steered), compression=None, extensions=_deflate(False)) as ws:
        ws.send("a" * 1000)
        assert ws.recv(5) == "a" * 1000
        # The viewer is told: this connection's content cannot be read by the rule.
        assert steered.act(lambda c: c.intercept("~from client", None, None)) == 1
        with connect(_url(steered), compression=None) as plain:  # uncompressed: readable
            assert steered.act(lambda c: c.intercept("~from client", None, None)) == 1
            plain.send("d")
            steered.act(lambda c: c.release(steered.held(1)[0].hold, "forward"))
            assert plain.recv(5) == "d"
        ws.send("c" * 1000)
        held = steered.held(2)[1]
        assert held.body == b""  # the earlier messages were never inflated here
        assert held.size > 0
        steered.act(lambda c: c.release(held.hold, "forward"))
        assert ws.recv(5) == "c" * 1000


def test_compressed_without_context_takeover_is_inflated_and_editable(steered: Steered) -> None:
    steered.act(lambda c: c.intercept("~from client & ~b needle", None, None))
    with connect(_url(steered), compression=None, extensions=_deflate(True)) as ws:
        ws.send("hay " * 200 + "needle")
        (held,) = steered.held(1)
        assert held.editable == ""
        assert held.body.endswith(b"needle")
        steered.act(lambda c: c.release(held.hold, "edit", opcode=1, payload=b"changed"))
        assert ws.recv(5) == "changed"
        ws.send("needle again")
        second = steered.held(2)[1]
        ws.send("more")
        steered.act(lambda c: c.release(second.hold, "drop"))
        assert ws.recv(5) == "more"


def test_a_held_message_on_a_connection_the_server_closes(steered: Steered) -> None:
    steered.act(lambda c: c.intercept("~from server", None, None))
    with connect(_url(steered)) as ws:
        ws.send("close please")  # the app closes with 4001: close frames pass at once
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
    assert ws.close_code == 4001
