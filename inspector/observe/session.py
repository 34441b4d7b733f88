"""Session files: every event as it arrived, one codec line each, so a viewer can reopen them.

A session starts with a header line (`{"inspector": "session", "v": 2, ...}`) and then holds
one event per line in the codec's format. The writer appends each batch as it arrives with
one unbuffered write, so a crash loses nothing already received, and a batch that cannot be
written (a full disk) is lost whole and counted exactly, never left half a line. Sessions hold
cookies and tokens: the writer creates them 0600 and refuses a symlink or a file that another
user owns or may read. The reader streams: it names the line of any problem; a last line cut
short by a crash is skipped and counted, not fatal. Sessions of format 1 (before events were
msgspec structs) are still read.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from msgspec.structs import replace

from inspector import codec
from inspector import events as ev
from inspector.events import Event
from inspector.observe.private import open_private
from inspector.redact import mask_headers, mask_snapshot, redaction_names

VERSION = 2
_READERS = {1: codec.loads_v1, 2: codec.loads}
BATCH_EVENTS = 2_500
BATCH_BYTES = 4 << 20
"""A batch read holds at most this many events, or about this many bytes of lines."""


class SessionError(ValueError):
    pass


class NotASession(SessionError):
    """The file to read is missing, unreadable, or not a session of a format this reads."""


class SessionWriter:
    """A bus subscriber that appends every event to a session file.

    Saving must not stop the viewer: a batch that cannot be written (a full disk, a quota, an
    I/O error) is added to `lost` and the error kept in `failure`; the next batch tries again,
    so saving resumes by itself once there is room (and `failure` is None again).
    """

    def __init__(self, path: str | Path, transform: Callable[[Event], Event] | None = None) -> None:
        self.path = Path(path)
        self._transform = transform
        self.written = 0
        """Events saved."""
        self.lost = 0
        """Events that could not be written."""
        self.failure: OSError | None = None
        """Why the latest batch could not be written; None once one was."""
        self._fd = _open_private(self.path)
        try:
            size = os.fstat(self._fd).st_size
            if size:
                version = _check_header(self.path, _first_line(self._fd))
                if version != VERSION:
                    raise SessionError(
                        f"{self.path}: a session of format {version}; this inspector appends "
                        f"to format {VERSION} only: save to another file"
                    )
                # A writer that died mid-line: start clean after it.
                self._torn = os.pread(self._fd, 1, size - 1) != b"\n"
            else:
                header = {"inspector": "session", "v": VERSION, "created": time.time()}
                _, error = _write_all(self._fd, json.dumps(header).encode() + b"\n")
                if error is not None:
                    raise OSError(error.errno, error.strerror, str(self.path))
                self._torn = False
        except BaseException:
            os.close(self._fd)
            raise

    def fileno(self) -> int:
        return self._fd

    def __call__(self, events: Sequence[Event]) -> None:
        transform = self._transform
        if transform is not None:
            events = [transform(event) for event in events]
        data = codec.dump_lines(events)
        if self._torn:
            data = b"\n" + data
        done, error = _write_all(self._fd, data)
        if error is not None:
            self._undo(done)
            self.lost += len(events)
            self.failure = error
            return
        self._torn = False
        self.written += len(events)
        self.failure = None

    def _undo(self, done: int) -> None:
        """Cut off the part of a batch written before an error, so the file stays whole
        lines (the batch is counted lost as a whole); if even that fails, the next batch
        starts on a new line and the reader skips the cut one."""
        if not done:
            return
        try:
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - done)
        except OSError:
            self._torn = True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes) -> tuple[int, OSError | None]:
    """Write `data`, again after a short write (a disk filling up writes part of it); the
    bytes written, and the error that stopped it, if any."""
    view, done = memoryview(data), 0
    while done < len(data):
        try:
            done += os.write(fd, view[done:])
        except OSError as exc:
            return done, exc
    return done, None


def _open_private(path: Path) -> int:
    """Open (or create, 0600) a session for appending, never a file that someone else could
    read or own: what is saved is full of secrets."""
    flags = os.O_RDWR | os.O_APPEND
    fd, info = open_private(path, flags, SessionError, "sessions are never saved")
    if info.st_mode & 0o077:
        os.close(fd)
        mode, where = stat.S_IMODE(info.st_mode), shlex.quote(str(path))
        raise SessionError(
            f"{path} may be read or written by others (mode {mode:04o}), and sessions hold "
            f"cookies and tokens: run `chmod 600 {where}` or choose another path"
        )
    return fd


def _first_line(fd: int) -> bytes:
    return os.pread(fd, 65536, 0).partition(b"\n")[0]


_WITH_HEADERS = frozenset(
    {
        ev.RequestStarted,
        ev.ResponseStarted,
        ev.ResponseRestarted,
        ev.ResponseTrailers,
        ev.WebSocketAccepted,
        ev.WebSocketDenied,
    }
)


def redactor(redact: bool | Iterable[str]) -> Callable[[Event], Event] | None:
    """A function masking secret headers in events (and in request snapshots), or None."""
    names = redaction_names(redact)
    if not names:
        return None

    def redact_event(event: Event) -> Event:
        if type(event) not in _WITH_HEADERS:
            return event
        masked = mask_headers(event.headers, names)  # type: ignore[attr-defined]
        if isinstance(event, ev.RequestStarted):
            return replace(event, headers=masked, snapshot=mask_snapshot(event.snapshot, names))
        return replace(event, headers=masked)

    return redact_event


class Problems(Protocol):
    """Where a lenient reader notes the lines it skipped (a `list` will do)."""

    def append(self, problem: str, /) -> None: ...


def read_session(path: str | Path, damaged: Problems | None = None) -> Iterator[Event]:
    """The events of a session file, in order (see `read_batches`)."""
    for batch in read_batches(path, damaged):
        yield from batch


def read_batches(
    path: str | Path,
    damaged: Problems | None = None,
    *,
    max_events: int = BATCH_EVENTS,
    max_bytes: int = BATCH_BYTES,
) -> Iterator[list[Event]]:
    """The events of a session file, in order, in lists of at most `max_events` events or
    about `max_bytes` of lines: a file of any size is read in the memory of one batch.

    A line that is not a valid event raises SessionError naming it, unless `damaged` is
    given: then the problem is appended there and the line skipped (a session resumed after
    a crash keeps the cut line). A last line cut short is always skipped. The header is
    checked before the first batch is made: calling `next()` once tells a session file, and
    raises NotASession for a file that is missing, unreadable or no session. An empty file
    holds no events (a writer creates the file, then writes its header).
    """
    try:
        file = open(path, "rb")  # noqa: SIM115 (the `with` below closes it)
    except OSError as exc:
        raise NotASession(_cannot_read(path, exc)) from exc
    with file:
        first = file.readline()
        if not first:
            return
        loads = _READERS[_check_header(path, first)]
        batch: list[Event] = []
        size = 0
        number = 1
        for line in file:
            number += 1
            if not line.endswith(b"\n"):
                break  # the writer died mid-line: everything before it is whole
            try:
                batch.append(loads(line))
            except codec.CodecError as exc:
                problem = f"{path}:{number}: {exc}"
                if damaged is None:
                    raise SessionError(problem) from None
                damaged.append(problem)
            size += len(line)
            if len(batch) >= max_events or size >= max_bytes:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch


def _cannot_read(path: str | Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a directory, not a session file"
    return f"cannot read {path}: {(exc.strerror or str(exc)).lower()}"


def _check_header(path: str | Path, line: bytes) -> int:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("inspector") != "session":
        raise NotASession(f"{path}: not an inspector session (line 1 is not a session header)")
    version = header.get("v")
    if type(version) is not int or version not in _READERS:
        raise NotASession(
            f"{path}: session format version {version!r}; this inspector reads "
            + " and ".join(map(str, _READERS))
        )
    return version
