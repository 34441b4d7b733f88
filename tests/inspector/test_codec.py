"""The codec: every event type round-trips; bad input gets a clear CodecError; format 1 reads."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest

from inspector import codec
from inspector import events as ev
from tests.inspector.samples import one_of_each, request_started


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: ev.Event) -> None:
    line = codec.dumps(event)
    assert b"\n" not in line
    assert json.loads(line)["event"] == type(event).__name__
    assert codec.loads(line) == event
    assert codec.loads(line.decode()) == event
    assert codec.loads(bytearray(line)) == event


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in one_of_each()} == set(ev.EVENT_TYPES.values())
    assert set(ev.AnyEvent.__args__) == set(ev.EVENT_TYPES.values())  # type: ignore[attr-defined]


def test_dump_lines_writes_one_line_per_event() -> None:
    events = one_of_each()
    lines = codec.dump_lines(events)
    assert lines.endswith(b"\n")
    assert [codec.loads(line) for line in lines.splitlines()] == events
    assert codec.dump_lines([]) == b""


def test_bytes_and_headers_are_lossless() -> None:
    event = ev.ResponseStarted("x", 1, 200, ((b"X-Raw", b"\xff\x00caf\xc3\xa9"),), False)
    obj = json.loads(codec.dumps(event))
    assert [[base64.b64decode(v) for v in pair] for pair in obj["headers"]] == [
        [b"X-Raw", b"\xff\x00caf\xc3\xa9"]
    ]
    assert codec.loads(codec.dumps(event)) == event


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
        ("not json at all", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "Expected `object`, got `array`"),
        ("{}", "missing required field `event`"),
        ('{"event": "ClientDisconnected"}', "missing required field `exchange_id`"),
        (
            '{"event": "Nope", "exchange_id": "x", "at_ns": 1}',
            "Invalid value 'Nope' - at `\\$.event`",
        ),
        ('{"event": 5, "exchange_id": "x", "at_ns": 1}', "Expected `str` - at `\\$.event`"),
        ("[" * 100_000 + "]" * 100_000, "Expected `object`"),
        (_request(wall_time=1e400).replace("Infinity", "1e400"), "Number out of range"),
        (_request(wall_time=float("nan")), "not JSON"),  # json writes NaN; it is not JSON
        (_ws_message(sender="evil"), "Invalid enum value 'evil' - at `\\$.sender`"),
        (_ws_message(size="big"), "Expected `int`, got `str` - at `\\$.size`"),
        (_ws_message(size=True), "Expected `int`, got `bool` - at `\\$.size`"),
        (_ws_message(text=5), "Expected `str \\| null`, got `int` - at `\\$.text`"),
        (_ws_message(data="@@"), "Invalid base64 encoded string - at `\\$.data`"),
        (_response(exchange_id=5), "Expected `str`, got `int` - at `\\$.exchange_id`"),
        (_response(at_ns=1.5), "Expected `int`, got `float` - at `\\$.at_ns`"),
        (_response(status="200"), "Expected `int`, got `str` - at `\\$.status`"),
        (_response(trailers=0), "Expected `bool`, got `int` - at `\\$.trailers`"),
        (_response(headers=["ab"]), "Expected `array`, got `str` - at `\\$.headers\\[0\\]`"),
        (_response(headers={"a": "b"}), "Expected `array`, got `object` - at `\\$.headers`"),
        (_response(headers=[["YQ==", "Yg==", "Yw=="]]), "at `\\$.headers\\[0\\]`"),
        (_response(headers=[["YQ==", 1]]), "at `\\$.headers\\[0\\]\\[1\\]`"),
        (_request(kind="ftp"), "Invalid enum value 'ftp' - at `\\$.kind`"),
        (_request(kind=["http"]), "at `\\$.kind`"),
        (_request(client=["h", "p"]), "at `\\$.client\\[1\\]`"),
        (_request(client=["h"]), "Expected `array` of length 2 - at `\\$.client`"),
        (_request(snapshot=[1]), "Expected `object`, got `array` - at `\\$.snapshot`"),
        (_request(method=None), "Expected `str`, got `null` - at `\\$.method`"),
    ],
)
def test_bad_input_gets_a_clear_error(line: str | bytes, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.loads(line)


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(codec.CodecError) as info:
        codec.loads(_ws_message(sender="x" * 10_000))
    assert len(str(info.value)) < 200
    assert str(info.value).endswith("… - at `$.sender`")  # where it is, still


def test_whole_numbers_are_accepted_as_floats() -> None:
    event = codec.loads(_request(wall_time=1_700_000_000))
    assert isinstance(event, ev.RequestStarted)
    assert type(event.wall_time) is float
    assert event == request_started()


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: type(e).__name__)
def test_every_field_of_every_event_rejects_the_wrong_type(event: ev.Event) -> None:
    # [[1, 2]] fits no annotation (not even headers, address or snapshot); null only optionals.
    for field in msgspec.structs.fields(event):
        with pytest.raises(codec.CodecError, match=f"at `\\$.{field.name}"):
            codec.loads(_line(event, **{field.name: [[1, 2]]}))
        if "None" not in str(field.type):
            with pytest.raises(codec.CodecError, match=f"at `\\$.{field.name}`"):
                codec.loads(_line(event, **{field.name: None}))


# -- format 1 -----------------------------------------------------------------------------------

# Lines as the format-1 codec wrote them: a version, headers as latin-1 text, bytes as base64.
V1_LINES = [
    '{"v": 1, "event": "RequestStarted", "exchange_id": "a1b2-1", "at_ns": 1000,'
    ' "source": "asgi", "kind": "http", "method": "GET", "scheme": "http",'
    ' "http_version": "1.1", "path": "/items", "raw_path": "L2l0ZW1z", "query": "cGFnZT0y",'
    ' "headers": [["host", "example.test"], ["x-raw", "\\u00ff\\u0000"]],'
    ' "client": ["127.0.0.1", 50000], "server": ["127.0.0.1", 8000],'
    ' "wall_time": 1700000000.0, "snapshot": {"type": "http", "state": {"n": [1, 2]}}}',
    '{"v": 1, "event": "ResponseStarted", "exchange_id": "a1b2-1", "at_ns": 2000,'
    ' "status": 200, "headers": [["content-type", "text/plain"]], "trailers": false,'
    ' "reason": "OK"}',
    '{"v": 1, "event": "ResponseBodyChunk", "exchange_id": "a1b2-1", "at_ns": 3000,'
    ' "data": "aGVsbG8=", "size": 5, "more_body": false}',
    '{"v": 1, "event": "ResponseTrailers", "exchange_id": "a1b2-1", "at_ns": 3500,'
    ' "headers": [["x-sum", "1"]], "more_trailers": false}',
    '{"v": 1, "event": "ExchangeFinished", "exchange_id": "a1b2-1", "at_ns": 4000,'
    ' "outcome": "completed", "request_ns": 0, "first_byte_ns": 1000, "total_ns": 3000}',
    '{"v": 1, "event": "PeerConnected", "exchange_id": "", "at_ns": 1, "prefix": "a1b2",'
    ' "host": "web-1", "pid": 42, "name": "gunicorn"}',
]
V1_EVENTS = [
    ev.RequestStarted(
        "a1b2-1",
        1000,
        source="asgi",
        kind="http",
        method="GET",
        scheme="http",
        http_version="1.1",
        path="/items",
        raw_path=b"/items",
        query=b"page=2",
        headers=((b"host", b"example.test"), (b"x-raw", b"\xff\x00")),
        client=("127.0.0.1", 50000),
        server=("127.0.0.1", 8000),
        wall_time=1_700_000_000.0,
        snapshot={"type": "http", "state": {"n": [1, 2]}},
    ),
    ev.ResponseStarted("a1b2-1", 2000, 200, ((b"content-type", b"text/plain"),), False, "OK"),
    ev.ResponseBodyChunk("a1b2-1", 3000, b"hello", 5, False),
    ev.ResponseTrailers("a1b2-1", 3500, ((b"x-sum", b"1"),), False),
    ev.ExchangeFinished("a1b2-1", 4000, "completed", 0, 1000, 3000),
    ev.PeerConnected("", 1, "a1b2", "web-1", 42, "gunicorn"),
]


@pytest.mark.parametrize(
    ("line", "event"), list(zip(V1_LINES, V1_EVENTS, strict=True)), ids=lambda x: ""
)
def test_format_1_lines_are_read(line: str, event: ev.Event) -> None:
    assert codec.loads_v1(line) == event
    assert codec.loads_v1(line.encode()) == event


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ("[" * 100_000, "not JSON"),
        ("[1]", "not a format 1 event"),
        ('{"v": 2, "event": "ClientDisconnected", "exchange_id": "x", "at_ns": 1}', "format 1"),
        ('{"v": true, "event": "ClientDisconnected", "exchange_id": "x", "at_ns": 1}', "format 1"),
        ('{"v": 1, "event": "Nope", "exchange_id": "x", "at_ns": 1}', "Invalid value 'Nope'"),
        ('{"v": 1, "event": "ClientDisconnected", "exchange_id": "x"}', "`at_ns`"),
        (V1_LINES[1].replace('"text/plain"', '"\\u20ac"'), "latin-1"),  # not latin-1
        (V1_LINES[1].replace('["content-type", "text/plain"]', '["ab"]'), "pairs"),
        (V1_LINES[1].replace('["content-type", "text/plain"]', '"ab"'), "pairs"),
        (V1_LINES[1].replace('["content-type", "text/plain"]', "[1, 2]"), "pairs"),
        (V1_LINES[1].replace('["content-type", "text/plain"]', '{"a": "b"}'), "pairs"),
        (V1_LINES[1].replace('"headers": [', '"headers": ["ab", '), "pairs"),
        (V1_LINES[1].replace('"status": 200', '"status": "200"'), "at `\\$.status`"),
    ],
)
def test_bad_format_1_lines_get_a_clear_error(line: str, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.loads_v1(line)
