"""The codec: every event type round-trips; bad input gets a clear CodecError."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inspector import codec
from inspector import events as ev
from tests.inspector.samples import one_of_each


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: ev.Event) -> None:
    line = codec.dumps(event)
    assert "\n" not in line
    assert codec.loads(line) == event
    assert codec.loads(line.encode()) == event


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in one_of_each()} == set(ev.EVENT_TYPES.values())


def test_bytes_and_headers_are_readable_and_lossless() -> None:
    event = ev.ResponseStarted("x", 1, 200, ((b"X-Raw", b"\xff\x00caf\xc3\xa9"),), False)
    obj = json.loads(codec.dumps(event))
    assert obj["headers"] == [["X-Raw", "\xff\x00cafÃ©"]]
    assert codec.decode(obj) == event


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            '{"v": 2, "event": "ClientDisconnected", "exchange_id": "x", "at_ns": 1}',
            "unsupported event version 2",
        ),
        ('{"event": "ClientDisconnected"}', "unsupported event version None"),
        ('{"v": 1, "event": "Nope"}', "unknown event type 'Nope'"),
        ('{"v": 1, "event": "ClientDisconnected", "exchange_id": "x"}', "lacks field 'at_ns'"),
        (
            '{"v": 1, "event": "RequestBodyChunk", "exchange_id": "x", "at_ns": 1,'
            ' "data": "@@", "size": 1, "more_body": false}',
            "malformed field",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(payload: Any, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.loads(payload)
