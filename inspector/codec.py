"""The one codec for events: JSON objects for the wire and for session files, versioned.

An encoded event is `{"v": 1, "event": "ResponseStarted", <fields>}`. Bytes become base64,
headers become `[name, value]` pairs of latin-1 strings (lossless: every byte maps to one code
point), tuples become lists. Decoding checks the version, the type and the fields, and raises
`CodecError` with a message a person can act on.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from inspector.events import EVENT_TYPES, Event, Snapshot

VERSION = 1


class CodecError(ValueError):
    pass


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any) -> bytes:
    return base64.b64decode(value, validate=True)


def _headers(value: Any) -> list[list[str]]:
    return [[n.decode("latin-1"), v.decode("latin-1")] for n, v in value]


def _unheaders(value: Any) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in value)


def _snapshot(value: Any) -> dict[str, Any]:
    return value.as_dict() if type(value) is Snapshot else dict(value)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _same(value: Any) -> Any:
    return value


# Encoder and decoder by field annotation (annotations are strings: PEP 563).
_CONVERTERS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "bytes": (_b64, _unb64),
    "bytes | None": (_optional(_b64), _optional(_unb64)),
    "Headers": (_headers, _unheaders),
    "Address | None": (_optional(list), _optional(tuple)),
    "Mapping[str, JSON]": (_snapshot, Snapshot),
}

_SCHEMAS: dict[type[Event], list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]]] = {
    cls: [(f.name, *_CONVERTERS.get(str(f.type), (_same, _same))) for f in fields(cls)]
    for cls in EVENT_TYPES.values()
}
assert not any({"v", "event"} & {f.name for f in fields(cls)} for cls in _SCHEMAS)


def _compile_encoder(cls: type[Event]) -> Callable[[Any], dict[str, Any]]:
    """One function per event type, a dict display with no loop: sinks encode every event."""
    namespace: dict[str, Any] = {}
    items = [f'"v": {VERSION}', f'"event": "{cls.__name__}"']
    for name, to_json, _ in _SCHEMAS[cls]:
        if to_json is _same:
            items.append(f'"{name}": e.{name}')
        else:
            namespace[f"_to_{name}"] = to_json
            items.append(f'"{name}": _to_{name}(e.{name})')
    exec(f"def encode(e):\n    return {{{', '.join(items)}}}\n", namespace)
    encoder: Callable[[Any], dict[str, Any]] = namespace["encode"]
    return encoder


_ENCODERS = {cls: _compile_encoder(cls) for cls in _SCHEMAS}


def encode(event: Event) -> dict[str, Any]:
    return _ENCODERS[type(event)](event)


def decode(obj: Any) -> Event:
    if not isinstance(obj, dict):
        raise CodecError(f"an event must be a JSON object, not {type(obj).__name__}")
    version = obj.get("v")
    if version != VERSION:
        raise CodecError(f"unsupported event version {version!r} (this inspector reads {VERSION})")
    name = obj.get("event")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown event type {name!r}")
    try:
        values = {name: from_json(obj[name]) for name, _, from_json in _SCHEMAS[cls]}
    except KeyError as exc:
        raise CodecError(f"{cls.__name__} lacks field {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise CodecError(f"{cls.__name__} has a malformed field: {exc}") from None
    return cls(**values)


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def dumps(event: Event) -> str:
    """One line of JSON, no newline inside (session files hold one event per line)."""
    return _dumps(_ENCODERS[type(event)](event))


def loads(line: str | bytes | bytearray) -> Event:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise CodecError(f"not JSON: {exc}") from None
    return decode(obj)
