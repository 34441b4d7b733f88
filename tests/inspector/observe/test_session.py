"""Session files: append as events arrive, reopen exactly, and say which line is bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msgspec.structs import replace

from inspector import events as ev
from inspector.observe.session import SessionError, SessionWriter, read_session, redactor
from tests.inspector.samples import XID, one_of_each, request_started


def test_a_session_reopens_exactly(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    events = one_of_each()
    writer = SessionWriter(path)
    writer(events[:5])
    # Appended and flushed per batch: a reader sees them before the writer closes.
    assert list(read_session(path)) == events[:5]
    writer(events[5:])
    writer.close()
    assert list(read_session(path)) == events
    header = json.loads(path.read_text().splitlines()[0])
    assert (header["inspector"], header["v"]) == ("session", 2)


def test_saving_again_appends(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    for batch in ([request_started()], [ev.ClientDisconnected(XID, 5)]):
        writer = SessionWriter(path)
        writer(batch)
        writer.close()
    assert [type(e) for e in read_session(path)] == [ev.RequestStarted, ev.ClientDisconnected]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path)
    writer([request_started()])
    writer.close()
    with path.open("a") as file:
        file.write('{"event": "ClientDiscon')
    assert list(read_session(path)) == [request_started()]


def test_bad_files_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("GET / HTTP/1.1\n")
    with pytest.raises(SessionError, match="not an inspector session"):
        list(read_session(path))
    path.write_text('{"inspector": "session", "v": 7}\n')
    with pytest.raises(SessionError, match="version 7; this inspector reads 1 and 2"):
        list(read_session(path))
    path.write_text('{"inspector": "session", "v": "2"}\n')
    with pytest.raises(SessionError, match="version '2'"):
        list(read_session(path))
    path.write_text('{"inspector": "session", "v": 2}\n{"event": "Bogus"}\n{}\n')
    with pytest.raises(SessionError, match=r"s.jsonl:2: Invalid value 'Bogus' - at `\$.event`"):
        list(read_session(path))
    path.write_text("")
    assert list(read_session(path)) == []


def test_redaction_masks_headers_and_snapshots() -> None:
    secret = ((b"Authorization", b"Bearer t"), (b"accept", b"*/*"), (b"cookie", b"a=1"))
    environ = {"HTTP_AUTHORIZATION": "Bearer t", "PATH_INFO": "/"}
    scope = {"headers": [["authorization", "Bearer t"], ["accept", "*/*"]]}
    redact = redactor(True)
    assert redact is not None
    assert redactor(False) is None
    for snapshot in (environ, scope):
        started = replace(request_started(), headers=secret, snapshot=snapshot)
        masked = redact(started)
        assert isinstance(masked, ev.RequestStarted)
        assert masked.headers == (
            (b"Authorization", b"[redacted]"),
            (b"accept", b"*/*"),
            (b"cookie", b"[redacted]"),
        )
        assert "Bearer t" not in json.dumps(dict(masked.snapshot))
    response = ev.ResponseStarted(XID, 1, 200, ((b"Set-Cookie", b"s=1"), (b"x", b"y")), False)
    assert redact(response).headers == ((b"Set-Cookie", b"[redacted]"), (b"x", b"y"))  # type: ignore[attr-defined]
    body = ev.RequestBodyChunk(XID, 2, b"token=1", 7, False)
    assert redact(body) is body
    only_x = redactor(["X"])
    assert only_x is not None
    assert only_x(response).headers[1] == (b"x", b"[redacted]")


def test_redacted_sessions_hold_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path, redactor(True))
    writer([replace(request_started(), headers=((b"authorization", b"Bearer t"),))])
    writer.close()
    assert "Bearer t" not in path.read_text()


def test_saving_again_after_a_crash_starts_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path)
    writer([request_started()])
    writer.close()
    with path.open("a") as file:
        file.write('{"event": "ClientDiscon')  # the writer died here
    writer = SessionWriter(path)
    writer([ev.ClientDisconnected(XID, 5)])
    writer.close()
    with pytest.raises(SessionError, match=r"s.jsonl:3: not JSON"):
        list(read_session(path))  # strict by default: the cut line is named by number
    damaged: list[str] = []
    events = list(read_session(path, damaged))
    assert [type(e) for e in events] == [ev.RequestStarted, ev.ClientDisconnected]
    assert len(damaged) == 1
    assert damaged[0].startswith(f"{path}:3: not JSON")


def test_sessions_are_private_and_never_appended_to_other_files(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    SessionWriter(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    with pytest.raises(SessionError, match="not an inspector session"):
        SessionWriter(notes)
    assert notes.read_text() == "my notes\n"


# -- format 1 -----------------------------------------------------------------------------------

V1_SESSION = """\
{"inspector": "session", "v": 1, "created": 1700000000.0}
{"v": 1, "event": "PeerConnected", "exchange_id": "", "at_ns": 1, "prefix": "a1b2", \
"host": "web-1", "pid": 42, "name": "gunicorn"}
{"v": 1, "event": "ResponseStarted", "exchange_id": "a1b2-1", "at_ns": 2000, "status": 200, \
"headers": [["content-type", "text/plain"], ["set-cookie", "\\u00ff"]], "trailers": false, \
"reason": "OK"}
{"v": 1, "event": "ResponseBodyChunk", "exchange_id": "a1b2-1", "at_ns": 3000, \
"data": "aGVsbG8=", "size": 5, "more_body": false}
"""


def test_a_format_1_session_is_read(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(V1_SESSION)
    assert list(read_session(path)) == [
        ev.PeerConnected("", 1, "a1b2", "web-1", 42, "gunicorn"),
        ev.ResponseStarted(
            "a1b2-1",
            2000,
            200,
            ((b"content-type", b"text/plain"), (b"set-cookie", b"\xff")),
            False,
            "OK",
        ),
        ev.ResponseBodyChunk("a1b2-1", 3000, b"hello", 5, False),
    ]


def test_a_damaged_format_1_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(V1_SESSION.replace('["content-type", "text/plain"]', '"ab"'))
    with pytest.raises(SessionError, match=r"old.jsonl:3: headers must be \[name, value\] pairs"):
        list(read_session(path))
    damaged: list[str] = []
    assert len(list(read_session(path, damaged))) == 2
    assert len(damaged) == 1


def test_a_format_1_session_is_never_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(V1_SESSION)
    with pytest.raises(SessionError, match=r"a session of format 1; .* format 2 only"):
        SessionWriter(path)
    assert path.read_text() == V1_SESSION
