"""Session files: every event as it arrived, one codec line each, so a viewer can reopen them.

A session starts with a header line (`{"inspector": "session", "v": 2, ...}`) and then holds
one event per line in the codec's format. The writer appends and flushes each batch as it
arrives, so a crash loses nothing already received. The reader names the line of any problem;
a last line cut short by a crash is skipped and counted, not fatal. Sessions of format 1
(before events were msgspec structs) are still read.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from msgspec.structs import replace

from inspector import codec
from inspector import events as ev
from inspector.events import Event
from inspector.redact import mask_headers, mask_snapshot, redaction_names

VERSION = 2
_READERS = {1: codec.loads_v1, 2: codec.loads}


class SessionError(ValueError):
    pass


class SessionWriter:
    """A bus subscriber that appends every event to a session file."""

    def __init__(self, path: str | Path, transform: Callable[[Event], Event] | None = None) -> None:
        self.path = Path(path)
        self._transform = transform
        existing = self.path.exists() and self.path.stat().st_size > 0
        if existing:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as file:
                version = _check_header(self.path, file.readline())
            if version != VERSION:
                raise SessionError(
                    f"{self.path}: a session of format {version}; this inspector appends to "
                    f"format {VERSION} only: save to another file"
                )
        # Sessions hold cookies and tokens: only their owner may read them.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file: IO[bytes] = open(descriptor, "ab")  # noqa: SIM115
        if not existing:
            header = {"inspector": "session", "v": VERSION, "created": time.time()}
            self._file.write(json.dumps(header).encode() + b"\n")
        elif not _ends_with_newline(self.path):
            self._file.write(b"\n")  # a writer died mid-line: start clean after it
        self._file.flush()
        self.written = 0

    def __call__(self, events: Sequence[Event]) -> None:
        transform = self._transform
        if transform is not None:
            events = [transform(event) for event in events]
        self._file.write(codec.dump_lines(events))
        self._file.flush()
        self.written += len(events)

    def close(self) -> None:
        self._file.close()


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


def read_session(path: str | Path, damaged: list[str] | None = None) -> Iterator[Event]:
    """The events of a session file, in order.

    A line that is not a valid event raises SessionError naming it, unless `damaged` is
    given: then the problem is appended there and the line skipped (a session resumed after
    a crash keeps the cut line). A last line cut short is always skipped.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as file:
        lines = iter(enumerate(file, 1))
        first = next(lines, None)
        if first is None:
            return
        loads = _READERS[_check_header(path, first[1])]
        previous: tuple[int, str] | None = None
        for number, line in lines:
            if previous is not None:
                yield from _event(loads, path, *previous, damaged)
            previous = (number, line)
        if previous is not None:
            number, line = previous
            if line.endswith("\n"):
                yield from _event(loads, path, number, line, damaged)
            # else: the writer died mid-line; everything before it is whole.


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _check_header(path: str | Path, line: str) -> int:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("inspector") != "session":
        raise SessionError(f"{path}: not an inspector session (line 1 is not a session header)")
    version = header.get("v")
    if type(version) is not int or version not in _READERS:
        raise SessionError(
            f"{path}: session format version {version!r}; this inspector reads "
            + " and ".join(map(str, _READERS))
        )
    return version


def _event(
    loads: Callable[[bytes], Event],
    path: str | Path,
    number: int,
    line: str,
    damaged: list[str] | None,
) -> Iterator[Event]:
    try:
        yield loads(line.encode("utf-8", "surrogateescape"))
    except codec.CodecError as exc:
        problem = f"{path}:{number}: {exc}"
        if damaged is None:
            raise SessionError(problem) from None
        damaged.append(problem)
