"""Opening a file that will hold captured secrets (a session, an export): never through a
symbolic link, nor into a FIFO, a device or another user's file.

Every check is made on the open descriptor, so the file cannot be swapped between check and
use. What a caller does next differs: a session refuses a file others may read, an export
(which replaces the whole file) makes it private.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path


def open_private(
    path: str | Path, flags: int, error: Callable[[str], Exception], never: str
) -> tuple[int, os.stat_result]:
    """`os.open(path, flags)`, created 0600, and its `fstat`; refusals raise `error(message)`,
    `never` saying what is never done through a link ("sessions are never saved")."""
    # O_NONBLOCK: a FIFO at `path` must not hang the open; it is refused below.
    flags |= os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(
                f"{path} is a symbolic link, and {never} through one: "
                "remove the link or choose another path"
            ) from None
        if exc.errno == errno.ENXIO:  # a FIFO that nobody reads (opened write-only)
            raise error(f"{path} is not a regular file: choose another path") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is not a regular file: choose another path")
        if info.st_uid != os.geteuid():
            raise error(f"{path} belongs to another user (uid {info.st_uid}): choose another path")
    except BaseException:
        os.close(fd)
        raise
    return fd, info
