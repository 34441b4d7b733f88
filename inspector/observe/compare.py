"""Compare an exchange with its replay: what the server answered each time, row by row.

Pure: two folded exchanges in, a `Comparison` out, no I/O. Each part is a list of `Row`s,
original on the left and replay on the right, aligned by `difflib` so an extra or missing
line shifts nothing after it: the status (and for a WebSocket the subprotocol and how it
closed), the response's header fields in order (the handshake's answer for a WebSocket),
the body (JSON compared as data, so key order and spacing do not count; other text line by
line; bytes as a whole), and for a WebSocket the server's messages, each compared as data
when both are JSON. Fields that differ on every answer by design (Date, the handshake's
Sec-WebSocket-Accept) are shown but not counted as differences.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from inspector import events as ev
from inspector.observe.exchange import Exchange

Kind = Literal["same", "changed", "removed", "added", "ignored"]
VOLATILE = frozenset({b"date", b"sec-websocket-accept"})
"""Header fields expected to differ between two answers."""
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Row:
    """One line of each side; None where that side has none."""

    original: str | None
    replay: str | None
    kind: Kind

    @property
    def same(self) -> bool:
        return self.kind in ("same", "ignored")


@dataclass(frozen=True, slots=True)
class Comparison:
    websocket: bool
    status: tuple[Row, ...]
    headers: tuple[Row, ...]
    body: tuple[Row, ...]
    body_note: str
    """How the bodies were compared: as JSON data, as text, as bytes."""
    messages: tuple[Row, ...]
    """The server's messages (WebSocket only)."""

    @property
    def same(self) -> bool:
        return all(row.same for part in self.parts.values() for row in part)

    @property
    def parts(self) -> dict[str, tuple[Row, ...]]:
        return {
            "status": self.status,
            "header": self.headers,
            "body": self.body,
            "message": self.messages,
        }

    def differences(self) -> list[str]:
        """One line per row that differs, for a terminal: `header x-a: 1 → 2`."""
        lines = []
        for part, rows in self.parts.items():
            for n, row in enumerate(rows, 1):
                if row.same:
                    continue
                where = f"{part} {n}" if part in ("message", "body") else part
                if row.kind == "removed":
                    lines.append(f"{where} only in the original: {row.original}")
                elif row.kind == "added":
                    lines.append(f"{where} only in the replay: {row.replay}")
                else:
                    lines.append(f"{where}: {row.original} → {row.replay}")
        return lines


def compare(original: Exchange, replay: Exchange) -> Comparison:
    websocket = original.is_websocket
    if websocket:
        headers = _answer_headers(original), _answer_headers(replay)
        messages = _align(_server_messages(original), _server_messages(replay), _message_key)
    else:
        headers = _answer_headers(original), _answer_headers(replay)
        messages = []
    body, note = _bodies(original, replay)
    return Comparison(
        websocket=websocket,
        status=tuple(_pair(a, b) for a, b in zip(_status(original), _status(replay), strict=True)),
        headers=tuple(_headers(*headers)),
        body=tuple(body),
        body_note=note,
        messages=tuple(messages),
    )


def _pair(a: str, b: str) -> Row:
    return Row(a, b, "same" if a == b else "changed")


def _status(exchange: Exchange) -> tuple[str, ...]:
    """The answer's status line (or the failure), and for a WebSocket its subprotocol and
    how it closed."""
    if exchange.error is not None and exchange.status is None:
        status = f"failed: {exchange.error.type}: {exchange.error.message}"
    elif exchange.status is None:
        status = "no answer"
    else:
        reason = exchange.response.reason if exchange.response is not None else ""
        status = f"{exchange.status} {reason}".rstrip()
    if not exchange.is_websocket:
        return (status,)
    accepted = exchange.accepted
    protocol = (accepted.subprotocol or "none") if accepted is not None else "none"
    closed = exchange.closed
    closing = (
        f"closed by the {closed.sender}: {closed.code} {closed.reason}".rstrip()
        if closed is not None
        else "not closed"
    )
    return status, f"subprotocol {protocol}", closing


def _answer_headers(exchange: Exchange) -> ev.Headers:
    if exchange.accepted is not None:
        return exchange.accepted.headers
    if exchange.denied is not None:
        return exchange.denied.headers
    return exchange.response.headers if exchange.response is not None else ()


def _headers(original: ev.Headers, replay: ev.Headers) -> list[Row]:
    """Aligned by name (lower case), in each side's order; a value that changed is one row."""

    def line(field: tuple[bytes, bytes]) -> str:
        return f"{field[0].decode('latin-1')}: {field[1].decode('latin-1')}"

    rows = []
    names_a = [name.lower() for name, _ in original]
    names_b = [name.lower() for name, _ in replay]
    matcher = difflib.SequenceMatcher(None, names_a, names_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(original[i1:i2], replay[j1:j2], strict=True):
                kind: Kind = "same" if a[1] == b[1] else "changed"
                if kind == "changed" and a[0].lower() in VOLATILE:
                    kind = "ignored"
                rows.append(Row(line(a), line(b), kind))
        else:
            rows += _unmatched([line(f) for f in original[i1:i2]], [line(f) for f in replay[j1:j2]])
    return rows


def _unmatched(left: Sequence[str], right: Sequence[str]) -> list[Row]:
    """Lines of a replaced block: paired while both sides have one, then one-sided."""
    rows = []
    for n in range(max(len(left), len(right))):
        a = left[n] if n < len(left) else None
        b = right[n] if n < len(right) else None
        kind: Kind = (
            "changed" if a is not None and b is not None else "removed" if b is None else "added"
        )
        rows.append(Row(a, b, kind))
    return rows


def _align(
    left: Sequence[tuple[str, object]],
    right: Sequence[tuple[str, object]],
    key: Callable[[tuple[str, object]], object],
) -> list[Row]:
    """Rows for two lists of (shown, compared) items aligned on `key`."""
    rows = []
    keys_a = [_hashable(key(item)) for item in left]
    keys_b = [_hashable(key(item)) for item in right]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                Row(a[0], b[0], "same") for a, b in zip(left[i1:i2], right[j1:j2], strict=True)
            ]
        else:
            rows += _unmatched([a[0] for a in left[i1:i2]], [b[0] for b in right[j1:j2]])
    return rows


def _hashable(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _message_key(item: tuple[str, object]) -> object:
    return item[1]


def _server_messages(exchange: Exchange) -> list[tuple[str, object]]:
    """(shown, compared) for each message the server sent (not those the viewer injected)."""
    out: list[tuple[str, object]] = []
    for message in exchange.messages:
        if message.sender != "server" or getattr(message, "injected", False):
            continue
        if message.text is not None:
            out.append((message.text, ("text", _as_json(message.text))))
        elif message.data is not None:
            out.append(("bytes: " + message.data.hex(" "), ("bytes", message.data.hex())))
        else:
            out.append((f"{message.size:,} bytes, not kept", ("unkept", message.size)))
    return out


def _as_json(text: str) -> object:
    """The data a JSON text holds, else the text itself (so '1' and '1.0' stay apart only as
    JSON says)."""
    try:
        return {"json": json.loads(text)}
    except ValueError:
        return text


def _bodies(original: Exchange, replay: Exchange) -> tuple[list[Row], str]:
    a, b = bytes(original.response_body.data), bytes(replay.response_body.data)
    if not a and not b:
        return [], ""
    try:
        data_a, data_b = json.loads(a), json.loads(b)
    except ValueError:
        pass
    else:
        lines_a = json.dumps(data_a, indent=2, sort_keys=True).splitlines()
        lines_b = json.dumps(data_b, indent=2, sort_keys=True).splitlines()
        return _align([(x, x) for x in lines_a], [(x, x) for x in lines_b], _message_key), "JSON"
    try:
        text_a, text_b = a.decode(), b.decode()
    except UnicodeDecodeError:
        return _binary(a, b), "bytes"
    rows = _align(
        [(x, x) for x in text_a.splitlines()], [(x, x) for x in text_b.splitlines()], _message_key
    )
    return rows, "text"


def _binary(a: bytes, b: bytes) -> list[Row]:
    if a == b:
        return [Row(f"{len(a):,} bytes", f"{len(b):,} bytes", "same")]
    at = next(
        (n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    where = f", first difference at byte {at:,}"
    return [Row(f"{len(a):,} bytes", f"{len(b):,} bytes{where}", "changed")]
