"""The one codec for events: JSON objects for the wire and for session files, versioned.

An encoded event is `{"v": 1, "event": "ResponseStarted", <fields>}`. Bytes become base64,
headers become `[name, value]` pairs of latin-1 strings (lossless: every byte maps to one code
point), tuples become lists. Decoding checks the version, the type, and every field against
its annotation (events come from other processes and from files, so from anyone), and raises
`CodecError` with a message a person can act on.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from inspector import events
from inspector.events import EVENT_TYPES, Event, Snapshot

VERSION = 1


class CodecError(ValueError):
    pass


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any) -> bytes:
    if type(value) is not str:
        raise TypeError
    return base64.b64decode(value, validate=True)


def _headers(value: Any) -> list[list[str]]:
    return [[n.decode("latin-1"), v.decode("latin-1")] for n, v in value]


def _unheaders(value: Any) -> tuple[tuple[bytes, bytes], ...]:
    if type(value) is not list:
        raise TypeError
    pairs = []
    for pair in value:
        # Exactly a list of two: a 2-character string or a 2-key object would unpack too.
        if type(pair) is not list or len(pair) != 2:
            raise TypeError
        name, val = pair
        pairs.append((name.encode("latin-1"), val.encode("latin-1")))  # only str has encode
    return tuple(pairs)


def _unaddress(value: Any) -> tuple[str, int | None]:
    if type(value) is not list or len(value) != 2:
        raise TypeError
    host, port = value
    if type(host) is not str or not (port is None or (type(port) is int and 0 <= port < 1 << 16)):
        raise TypeError
    return host, port


def _snapshot(value: Any) -> dict[str, Any]:
    return value.as_dict() if type(value) is Snapshot else dict(value)


def _unsnapshot(value: Any) -> Snapshot:
    if type(value) is not dict:
        raise TypeError
    return Snapshot(value)


def _int_as_float(value: Any) -> float:
    """JSON writes whole floats as ints only if someone else wrote them: accept those."""
    if type(value) is not int:
        raise TypeError
    return float(value)  # OverflowError past ~1e308


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one annotation travels: `test` (a Python expression over `{v}`) accepts a decoded
    value as it is; otherwise `convert` makes it, raising one of `_CONVERT_ERRORS` if it can't.
    """

    expected: str
    test: str | None = None
    convert: Callable[[Any], Any] | None = None
    to_json: Callable[[Any], Any] | None = None


# Events carry nanoseconds, sizes, counts and codes: all fit 64 bits; a bigger int would only
# overflow later, in a float conversion in the fold or the UI.
_INT = _Kind("int", "type({v}) is int and -_INT64 <= {v} < _INT64")
_SIMPLE: dict[object, _Kind] = {
    str: _Kind("str", "type({v}) is str"),
    int: _INT,
    bool: _Kind("bool", "type({v}) is bool"),
    float: _Kind("finite float", "type({v}) is float and _isfinite({v})", _int_as_float),
    bytes: _Kind("base64 str", None, _unb64, _b64),
    events.Headers: _Kind("[name, value] pairs of latin-1 str", None, _unheaders, _headers),
    events.Address: _Kind("[host, port]", None, _unaddress, list),
}
_CONVERT_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, binascii.Error)


def _kind(hint: Any) -> _Kind:
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal and all(type(a) is str for a in args):
        return _Kind(" | ".join(map(repr, args)), "type({v}) is str and {v} in " + repr(set(args)))
    if origin is Mapping and args[0] is str:  # a Snapshot: any JSON object
        return _Kind("object", None, _unsnapshot, _snapshot)
    if origin in (types.UnionType, typing.Union) and type(None) in args and len(args) == 2:
        inner = _kind(next(a for a in args if a is not type(None)))
        test = "{v} is None" + (f" or {inner.test}" if inner.test else "")
        to_json = _optional(inner.to_json) if inner.to_json else None
        return _Kind(f"{inner.expected} | None", test, inner.convert, to_json)
    raise TypeError(f"the codec cannot carry fields annotated {hint!r}")


_SCHEMAS: dict[type[Event], list[tuple[str, _Kind]]] = {
    cls: [(f.name, _kind(typing.get_type_hints(cls)[f.name])) for f in fields(cls)]
    for cls in EVENT_TYPES.values()
}
assert not any({"v", "event"} & {f.name for f in fields(cls)} for cls in _SCHEMAS)


def _compile_encoder(cls: type[Event]) -> Callable[[Any], dict[str, Any]]:
    """One function per event type, a dict display with no loop: sinks encode every event."""
    namespace: dict[str, Any] = {}
    items = [f'"v": {VERSION}', f'"event": "{cls.__name__}"']
    for name, kind in _SCHEMAS[cls]:
        if kind.to_json is None:
            items.append(f'"{name}": e.{name}')
        else:
            namespace[f"_to_{name}"] = kind.to_json
            items.append(f'"{name}": _to_{name}(e.{name})')
    exec(f"def encode(e):\n    return {{{', '.join(items)}}}\n", namespace)
    encoder: Callable[[Any], dict[str, Any]] = namespace["encode"]
    return encoder


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60


def _mismatch(cls: str, name: str, expected: str, value: object) -> typing.NoReturn:
    raise CodecError(f"{cls} field {name}: expected {expected}, got {_repr.repr(value)}")


def _compile_decoder(cls: type[Event]) -> Callable[[dict[str, Any]], Event]:
    """One function per event type checking each field inline: the collector decodes every
    event that arrives (~50k/s), and a call per field would cost more than the checks."""
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_mismatch": _mismatch,
        "_INT64": 1 << 63,
        "_isfinite": math.isfinite,
        "_CONVERT_ERRORS": _CONVERT_ERRORS,
    }
    lines = ["def decode(o):"]
    for name, kind in _SCHEMAS[cls]:
        v = f"f_{name}"
        fail = f"_mismatch({cls.__name__!r}, {name!r}, {kind.expected!r}, {v})"
        lines.append(f"    {v} = o[{name!r}]")
        indent = "    "
        if kind.test is not None:
            test = kind.test.replace("{v}", v)
            lines.append(f"    if not ({test}):")
            indent = "        "
        if kind.convert is None:
            lines.append(f"{indent}{fail}")
        else:
            namespace[f"_from_{name}"] = kind.convert
            lines.append(f"{indent}try:\n{indent}    {v} = _from_{name}({v})")
            lines.append(f"{indent}except _CONVERT_ERRORS:\n{indent}    {fail}")
    lines.append(f"    return _cls({', '.join(f'f_{name}' for name, _ in _SCHEMAS[cls])})")
    exec("\n".join(lines) + "\n", namespace)
    decoder: Callable[[dict[str, Any]], Event] = namespace["decode"]
    return decoder


_ENCODERS = {cls: _compile_encoder(cls) for cls in _SCHEMAS}
_DECODERS = {cls: _compile_decoder(cls) for cls in _SCHEMAS}


def encode(event: Event) -> dict[str, Any]:
    return _ENCODERS[type(event)](event)


def decode(obj: Any) -> Event:
    if not isinstance(obj, dict):
        raise CodecError(f"an event must be a JSON object, not {type(obj).__name__}")
    version = obj.get("v")
    if type(version) is not int or version != VERSION:  # True == 1, but is no version
        raise CodecError(f"unsupported event version {version!r} (this inspector reads {VERSION})")
    name = obj.get("event")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown event type {name!r}")
    try:
        return _DECODERS[cls](obj)
    except KeyError as exc:
        raise CodecError(f"{cls.__name__} lacks field {exc.args[0]!r}") from None


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def dumps(event: Event) -> str:
    """One line of JSON, no newline inside (session files hold one event per line)."""
    return _dumps(_ENCODERS[type(event)](event))


def loads(line: str | bytes | bytearray) -> Event:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise CodecError(f"not JSON: {exc}") from None
    except RecursionError:  # the C scanner recurses per nesting level: "[[[[..." from a peer
        raise CodecError("not JSON: nested too deeply") from None
    return decode(obj)
