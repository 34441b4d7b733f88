"""Comparison without I/O: JSON bodies compared as data, text line by line, bytes as a whole,
header fields aligned in order (Date shown, not counted); edited requests read back from an
editor's file with their mistakes named."""

from __future__ import annotations

import pytest

from inspector.observe.compare import compare
from inspector.observe.edit import check, from_message, prepare_edited, to_message
from inspector.observe.exchange import fold
from tui.scenarios import scripted

JSON = (b"content-type", b"application/json")


def pair(body_a: bytes, body_b: bytes, headers_b: tuple[tuple[bytes, bytes], ...] = ()):  # type: ignore[no-untyped-def]
    a = (
        scripted("a")
        .request("GET", "/x")
        .response(200, "OK", (JSON, (b"date", b"1")), [(1, body_a)])
    )
    headers = headers_b or (JSON, (b"date", b"2"))
    b = scripted("b").request("GET", "/x").response(200, "OK", headers, [(1, body_b)])
    folded = fold(a.finish(2).events + b.finish(2).events)
    return compare(folded["a"], folded["b"])


def test_json_is_compared_as_data() -> None:
    same = pair(b'{"a": 1, "b": [1, 2]}', b'{"b":[1,2],"a":1}')
    assert all(row.same for row in same.body)
    assert same.body_note == "JSON"
    # The scenario's Content-Length follows each body's bytes: that one is a real difference.
    assert [row.kind for row in same.headers] == ["same", "ignored", "changed"]
    changed = pair(b'{"a": 1, "b": 2}', b'{"a": 1, "b": 3}')
    assert not changed.same
    assert changed.differences() == ['body 3:   "b": 2 →   "b": 3']


def test_text_lines_and_headers_in_order() -> None:
    result = pair(b"one\ntwo\nthree", b"one\nthree\nfour", ((b"x-new", b"1"), JSON))
    assert result.body_note == "text"
    assert [(r.original, r.replay, r.kind) for r in result.body] == [
        ("one", "one", "same"),
        ("two", None, "removed"),
        ("three", "three", "same"),
        (None, "four", "added"),
    ]
    assert [r.kind for r in result.headers] == ["added", "same", "removed", "changed"]


def test_bytes_say_where_they_first_differ() -> None:
    result = pair(b"\xff\x00\x01", b"\xff\x00\x02\x03")
    assert result.body_note == "bytes"
    assert result.differences()[-1] == "body 1: 3 bytes → 4 bytes, first difference at byte 2"


def test_an_edited_request_survives_the_editor_and_mistakes_are_named() -> None:
    edited = check("POST", "http://127.0.0.1:8000/a?b=1", "Host: x\nX-A: 1", b"hi\n")
    assert from_message(to_message(edited)) == edited
    request = prepare_edited(edited)
    assert request.encode() == (
        b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\ncontent-length: 3\r\n\r\nhi\n"
    )
    with pytest.raises(ValueError, match="line 1: 'nonsense' is not a request line"):
        from_message(b"nonsense\n\n")
    with pytest.raises(ValueError, match="headers, line 3: 'bad' is not a header field"):
        from_message(b"GET http://x/ HTTP/1.1\nA: 1\nbad\n\n")
    with pytest.raises(ValueError, match="method: 'G T' is not a method"):
        check("G T", "http://x/", "", b"")
    with pytest.raises(ValueError, match="Content-Length must be a number"):
        check("GET", "http://x/", "Content-Length: ten", b"")
    with pytest.raises(ValueError, match="a port that is no number"):
        check("GET", "http://x:99999/", "", b"")
