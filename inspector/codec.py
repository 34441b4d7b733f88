"""The one codec for events at rest: JSON lines, encoded and validated by msgspec.

An encoded event is `{"event": "ResponseStarted", <fields>}` (the tag of the `Event` union);
bytes become base64 and tuples lists. Decoding checks every field against the event's type in
C and raises `CodecError` with a message a person can act on (`Expected int, got str - at
$.status`). Session files of format 1 (`{"v": 1, "event": ..., ...}`, headers as latin-1
pairs) are read by `loads_v1`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

import msgspec

from inspector.events import AnyEvent, Event

VERSION = 2


class CodecError(ValueError):
    pass


_encoder = msgspec.json.Encoder()
_encode = _encoder.encode
_decode = msgspec.json.Decoder(AnyEvent).decode


def dumps(event: Event) -> bytes:
    """One line of JSON, no newline inside (session files hold one event per line)."""
    return _encode(event)


def dump_lines(events: Iterable[Event]) -> bytes:
    """Events as JSON lines, each ending in a newline."""
    buffer = bytearray()
    encode_into = _encoder.encode_into
    for event in events:
        encode_into(event, buffer, -1)
        buffer += b"\n"
    return bytes(buffer)


def loads(line: str | bytes | bytearray) -> Event:
    try:
        event: Event = _decode(line)
    except msgspec.ValidationError as exc:
        raise CodecError(_cut(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise CodecError(f"not JSON: {exc}") from None
    return event


def _cut(message: str) -> str:
    """msgspec's message with the value it quotes cut short (a line may hold megabytes),
    keeping where the problem is (`- at $.field`)."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        text, where = message, ""
    return (text if len(text) <= 100 else text[:99] + "…") + sep + where


def loads_v1(line: str | bytes | bytearray) -> Event:
    """An event as format 1 wrote it: headers were `[name, value]` pairs of latin-1 text."""
    try:
        obj: Any = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or type(obj.get("v")) is not int or obj["v"] != 1:
        raise CodecError(f"not a format 1 event: {str(line)[:60]!r}")
    headers = obj.get("headers")
    if isinstance(headers, list):
        try:
            obj["headers"] = [_pair(pair) for pair in headers]
        except (TypeError, UnicodeError):
            raise CodecError("headers must be [name, value] pairs of latin-1 text") from None
    return loads(json.dumps(obj))


def _pair(pair: Any) -> list[str]:
    # Exactly a list of two strings: a 2-character string or a 2-key object would unpack too.
    if type(pair) is not list or len(pair) != 2 or not all(type(x) is str for x in pair):
        raise TypeError
    return [_b64(pair[0]), _b64(pair[1])]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("latin-1")).decode("ascii")
