"""Holds and injected messages: records become events, the fold keeps what is held, and
sessions saved before these fields existed still load."""

from __future__ import annotations

import json
from pathlib import Path

from inspector import codec
from inspector import events as ev
from inspector import records as rec
from inspector.observe.build import Builder
from inspector.observe.exchange import fold
from inspector.observe.session import read_session

XID = "p-1"


def _built(*records: tuple[object, ...]) -> list[ev.Event]:
    return Builder().build([rec.decode_record(rec.encode(fields)) for fields in records])


def test_held_and_released_records_become_events_and_fold() -> None:
    events = _built(
        (rec.HELD, XID, 5, 1, "message", "client", 1, b"", b"hello", 5, ""),
        (rec.HELD, XID, 6, 2, "request", "client", 0, b"POST / HTTP/1.1\r\n", b"x", 1, "why"),
        (rec.RELEASED, XID, 7, 1, "edited"),
    )
    assert events == [
        ev.TrafficHeld(XID, 5, 1, "message", "client", 1, b"", b"hello", 5, ""),
        ev.TrafficHeld(XID, 6, 2, "request", "client", 0, b"POST / HTTP/1.1\r\n", b"x", 1, "why"),
        ev.HoldReleased(XID, 7, 1, "edited"),
    ]
    exchange = fold(events)[XID]
    assert list(exchange.holds) == [2]
    assert exchange.holds[2].editable == "why"


def test_an_injected_frame_is_a_message_marked_injected() -> None:
    (event,) = _built((rec.WS_FRAME, XID, 5, "server", 1, [(b"hi", None, 0)], 2, False, 1024, True))
    assert event == ev.WebSocketMessage(XID, 5, "server", "hi", None, 2, injected=True)
    (plain,) = _built((rec.WS_FRAME, XID, 6, "server", 2, [(b"hi", None, 0)], 2, False, 1024))
    assert isinstance(plain, ev.WebSocketMessage)
    assert not plain.injected


def test_an_old_session_without_the_new_fields_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    old = {"event": "WebSocketMessage", "exchange_id": XID, "at_ns": 1, "sender": "client"}
    old |= {"text": "hi", "data": None, "size": 2}
    header = {"inspector": "session", "v": codec.VERSION, "created": 0.0}
    path.write_text(json.dumps(header) + "\n" + json.dumps(old) + "\n")
    (message,) = read_session(path)
    assert message == ev.WebSocketMessage(XID, 1, "client", "hi", None, 2)
    assert fold([message])[XID].holds == {}
