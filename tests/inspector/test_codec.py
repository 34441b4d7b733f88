"""The codec: every event type round-trips; bad input gets a clear CodecError."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from inspector import codec
from inspector import events as ev
from tests.inspector.samples import one_of_each, request_started


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
            "RequestBodyChunk field data: expected base64 str, got '@@'",
        ),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"v": true, "event": "ClientDisconnected", "exchange_id": "x", "at_ns": 1}', "version"),
    ],
)
def test_bad_input_gets_a_clear_error(payload: Any, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.loads(payload)


def _line(event: ev.Event, **changes: Any) -> str:
    return json.dumps({**json.loads(codec.dumps(event)), **changes})


def _ws_message(**changes: Any) -> str:
    return _line(ev.WebSocketMessage("a-1", 1, "client", "x", None, 1), **changes)


def _response(**changes: Any) -> str:
    return _line(ev.ResponseStarted("a-1", 1, 200, (), False), **changes)


def _request(**changes: Any) -> str:
    return _line(request_started(), **changes)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            _ws_message(sender="evil"),
            "WebSocketMessage field sender: expected 'client' | 'server', got 'evil'",
        ),
        (_ws_message(size="big"), "WebSocketMessage field size: expected int, got 'big'"),
        (_ws_message(size=True), "field size: expected int, got True"),
        (_ws_message(size=2**63), "field size: expected int, got 9223372036854775808"),
        (_ws_message(text=5), "field text: expected str | None, got 5"),
        (_ws_message(data=[]), "field data: expected base64 str | None, got \\[\\]"),
        (_response(exchange_id=5), "ResponseStarted field exchange_id: expected str, got 5"),
        (_response(at_ns="x"), "ResponseStarted field at_ns: expected int, got 'x'"),
        (_response(at_ns=1.5), "field at_ns: expected int, got 1.5"),
        (_response(status="200"), "field status: expected int, got '200'"),
        (_response(trailers=0), "field trailers: expected bool, got 0"),
        (_response(headers=["ab"]), "field headers: expected \\[name, value\\] pairs"),
        (_response(headers={"a": "b"}), "field headers: expected"),
        (_response(headers=[["a", "b", "c"]]), "field headers: expected"),
        (_response(headers=[["a", 1]]), "field headers: expected"),
        (_response(headers=[["a", "\u20ac"]]), "field headers: expected"),  # not latin-1
        (_request(source="evil"), "field source: expected 'asgi' | 'wsgi' | 'proxy', got 'evil'"),
        (_request(kind="ftp"), "field kind: expected 'http' | 'websocket', got 'ftp'"),
        (_request(kind=["http"]), "field kind: expected"),  # unhashable: no TypeError
        (_request(wall_time="x"), "field wall_time: expected finite float, got 'x'"),
        (_request(wall_time=10**400), "field wall_time: expected finite float"),
        (_request(client=["h", "p"]), "field client: expected \\[host, port\\] | None"),
        (_request(client=["h", 70000]), "field client: expected"),
        (_request(client=["h"]), "field client: expected"),
        (_request(raw_path=5), "field raw_path: expected base64 str | None, got 5"),
        (_request(snapshot=[1]), "field snapshot: expected object, got \\[1\\]"),
        (_request(method=None), "field method: expected str, got None"),
        (
            _line(ev.MessageRelayed("a-1", 1, "send", "t"), direction="up"),
            "field direction: expected 'receive' | 'send'",
        ),
        (
            _line(ev.ResponseFileSent("a-1", 1, "pathsend", None, None, None, False), via="x"),
            "field via: expected 'zerocopysend' | 'pathsend' | 'wsgi.file_wrapper'",
        ),
        (
            _line(ev.ExchangeFinished("a-1", 1, "completed", None, None, 1), outcome="ok"),
            "field outcome: expected 'completed' | 'failed' | 'cancelled' | 'disconnected'",
        ),
    ],
)
def test_fields_are_checked_against_their_annotations(line: str, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.loads(line)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=repr)
def test_non_finite_floats_are_rejected(value: float) -> None:
    line = _request(wall_time=value)  # json writes NaN, Infinity, -Infinity: and reads them
    with pytest.raises(
        codec.CodecError, match=f"field wall_time: expected finite float, got {value}"
    ):
        codec.loads(line)


def test_whole_numbers_are_accepted_as_floats() -> None:
    event = codec.loads(_request(wall_time=1_700_000_000))
    assert isinstance(event, ev.RequestStarted)
    assert type(event.wall_time) is float
    assert event == request_started()


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(codec.CodecError) as info:
        codec.loads(_ws_message(sender="x" * 10_000))
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: type(e).__name__)
def test_every_field_of_every_event_rejects_the_wrong_type(event: ev.Event) -> None:
    # [[1, 2]] fits no annotation (not even headers, address or snapshot); None only optionals.
    for field in dataclasses.fields(event):
        with pytest.raises(codec.CodecError, match=f"field {field.name}: expected"):
            codec.loads(_line(event, **{field.name: [[1, 2]]}))
        optional = "| None" in str(field.type)
        if not optional:
            with pytest.raises(codec.CodecError, match=f"field {field.name}: expected"):
                codec.loads(_line(event, **{field.name: None}))
