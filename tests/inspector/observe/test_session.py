"""Session files: append as events arrive, reopen exactly, and say which line is bad."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from msgspec.structs import replace

from inspector import events as ev
from inspector.observe.session import (
    NotASession,
    SessionError,
    SessionWriter,
    read_batches,
    read_session,
    redactor,
)
from tests.inspector.samples import XID, one_of_each, request_started
from tests.servers import ROOT


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


def test_a_file_that_cannot_be_read_is_no_session(tmp_path: Path) -> None:
    """Said in words, as one kind of error: the command line answers it with status 2."""
    with pytest.raises(NotASession, match=r"missing.jsonl: no such file$"):
        next(read_batches(tmp_path / "missing.jsonl"))
    with pytest.raises(NotASession, match=r"tmp.* is a directory, not a session file$"):
        next(read_batches(tmp_path))
    (tmp_path / "s.jsonl").write_text("GET / HTTP/1.1\n")
    with pytest.raises(NotASession, match="not an inspector session"):
        next(read_batches(tmp_path / "s.jsonl"))


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
    notes.chmod(0o600)
    with pytest.raises(SessionError, match="not an inspector session"):
        SessionWriter(notes)
    assert notes.read_text() == "my notes\n"


# -- a full disk -------------------------------------------------------------------------------


def finished(n: int) -> ev.ExchangeFinished:
    return ev.ExchangeFinished(f"test-{n}", n, "completed", 1, 2, 3)


def test_a_full_disk_loses_whole_batches_counted_and_saving_resumes(tmp_path: Path) -> None:
    """/dev/full put in place of the file: every write fails with ENOSPC, as on a full disk."""
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path)
    writer([finished(1), finished(2)])
    fd = writer.fileno()
    the_file = os.dup(fd)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, fd)  # the disk is full
        writer([finished(3), finished(4), finished(5)])
        assert writer.failure is not None
        assert writer.failure.errno == errno.ENOSPC
        writer([finished(6)])
        assert (writer.written, writer.lost) == (2, 4)
        os.dup2(the_file, fd)  # there is room again
        writer([finished(7)])
    finally:
        os.close(full)
        os.close(the_file)
    writer.close()
    assert writer.failure is None
    assert (writer.written, writer.lost) == (3, 4)
    assert [e.at_ns for e in read_session(path)] == [1, 2, 7]  # no gap in lines, no half line


PARTLY_WRITTEN = """
import os, resource, signal, sys
from inspector import events as ev
from inspector.observe.session import SessionWriter

def finished(n):
    return ev.ExchangeFinished(f"test-{n}", n, "completed", 1, 2, 3)

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
writer = SessionWriter(sys.argv[1])
writer([finished(1)])
before = os.path.getsize(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (before + 100, hard))
writer([finished(n) for n in range(2, 50)])  # 100 bytes fit, then the file is "full"
print(writer.failure.errno, writer.lost, before, os.path.getsize(sys.argv[1]))
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
writer([finished(50)])
writer.close()
"""


def test_a_batch_cut_short_by_a_full_disk_is_taken_back(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE, in a child process) lets the first 100 bytes of a batch
    through and refuses the rest, as a disk filling up mid-write does: the file keeps whole
    lines only."""
    path = tmp_path / "s.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", PARTLY_WRITTEN, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    code, lost, before, after = map(int, result.stdout.split())
    assert (code, lost) == (errno.EFBIG, 48)
    assert after == before  # the 100 bytes written were taken back, not left half a line
    assert [e.at_ns for e in read_session(path)] == [1, 50]


# -- who may read a session ---------------------------------------------------------------------


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "someone-elses.jsonl"
    SessionWriter(target).close()
    before = target.read_bytes()
    link = tmp_path / "s.jsonl"
    link.symlink_to(target)
    with pytest.raises(
        SessionError, match=r"is a symbolic link.*remove the link or choose another"
    ):
        SessionWriter(link)
    assert target.read_bytes() == before


def test_a_file_others_may_read_is_refused_until_it_is_private(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path)
    writer([finished(1)])
    writer.close()
    path.chmod(0o644)
    before = path.read_bytes()
    with pytest.raises(SessionError, match=r"mode 0644.*run `chmod 600 .*s.jsonl`"):
        SessionWriter(path)
    assert path.read_bytes() == before
    path.chmod(0o600)  # what the message says to do: then saving appends, as ever
    writer = SessionWriter(path)
    writer([finished(2)])
    writer.close()
    assert [e.at_ns for e in read_session(path)] == [1, 2]


def test_only_a_regular_file_is_a_session(tmp_path: Path) -> None:
    fifo = tmp_path / "s.jsonl"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(SessionError, match="not a regular file"):
        SessionWriter(fifo)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_another_users_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    SessionWriter(path).close()
    os.chown(path, 65534, 65534)
    with pytest.raises(SessionError, match="belongs to another user"):
        SessionWriter(path)


# -- reading in bounded memory ------------------------------------------------------------------


def test_batches_are_bounded_by_events_and_by_bytes(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path)
    writer([finished(n) for n in range(25)])
    writer.close()
    assert [len(b) for b in read_batches(path, max_events=10)] == [10, 10, 5]
    line = len(path.read_bytes().splitlines()[1]) + 1
    assert [len(b) for b in read_batches(path, max_bytes=3 * line)] == [3] * 8 + [1]
    assert [e.at_ns for b in read_batches(path, max_events=7) for e in b] == list(range(25))


def peak_while_reading(path: Path) -> int:
    tracemalloc.start()
    try:
        for _ in read_batches(path, max_events=100):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_holds_one_batch_whatever_the_size_of_the_file(tmp_path: Path) -> None:
    body = b"x" * 1000
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    for path, exchanges in ((small, 200), (large, 4000)):
        writer = SessionWriter(path)
        for n in range(exchanges):
            xid = f"test-{n}"
            writer([request_started(), ev.ResponseBodyChunk(xid, n, body, 1000, False)])
        writer.close()
    assert large.stat().st_size > 20 * small.stat().st_size
    # The same peak (within noise) for a file 20 times the size, far below either file.
    assert peak_while_reading(large) < 1.5 * peak_while_reading(small)
    assert peak_while_reading(large) < large.stat().st_size / 10


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
    path.chmod(0o600)
    with pytest.raises(SessionError, match=r"a session of format 1; .* format 2 only"):
        SessionWriter(path)
    assert path.read_text() == V1_SESSION
