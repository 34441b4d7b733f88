"""Copy as curl: put the command where the user can paste it, and say truthfully where.

No terminal confirms OSC 52 (Textual's `copy_to_clipboard`), and tmux drops an application's
OSC 52 unless its `set-clipboard` option is `on` (the default, `external`, ignores it), so a
bare "Copied" was often untrue. Inside tmux (`TMUX` is set) the command goes into tmux's paste
buffer through `tmux load-buffer -w -`, which tmux confirms by its exit status (`-w` also
hands it to the outer terminal's clipboard). Elsewhere the app sends OSC 52, and the command
is also written to a file of the user's own, `$XDG_DATA_HOME/inspector/copied-curl.sh`
(`~/.local/share/inspector` by default), in a 0700 directory, the file 0600: a request can
carry cookies and tokens. `place` does the blocking part (a subprocess, the disk): call it on
a thread.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from textual.notifications import SeverityLevel

FILE_NAME = "copied-curl.sh"
TMUX_TIMEOUT = 5.0


def in_tmux() -> bool:
    return bool(os.environ.get("TMUX"))


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a copy went, as the notification says it."""

    title: str
    message: str
    severity: SeverityLevel = "information"


def place(text: str, *, tmux: bool) -> Placed:
    """Put `text` into tmux's paste buffer (`tmux`), or else into the copy file, and say where;
    if tmux refuses, into the file, saying why. Blocking: run it on a thread."""
    trouble = ""
    if tmux:
        why = to_tmux(text)
        if why is None:
            return Placed("Copied curl", "into tmux's paste buffer (prefix ] pastes it)")
        trouble = f"tmux load-buffer failed ({why}); "
    path = data_dir() / FILE_NAME
    try:
        save(text, path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return Placed("Copy failed", f"{trouble}could not save {path}: {reason}", "error")
    if tmux:
        return Placed("Curl command saved", f"{trouble}saved to {path}", "warning")
    osc = "also sent to the terminal's clipboard by OSC 52, which terminals never confirm"
    return Placed("Curl command saved", f"saved to {path}; {osc}")


def to_tmux(text: str) -> str | None:
    """Load `text` into the paste buffer of the tmux server named by `TMUX`; None once tmux
    took it, else why not."""
    try:
        done = subprocess.run(
            ["tmux", "load-buffer", "-w", "-"],
            input=text.encode(),
            capture_output=True,
            timeout=TMUX_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode:
        said = done.stderr.decode(errors="replace").strip()
        return said or f"tmux exited with status {done.returncode}"
    return None


def data_dir() -> Path:
    """inspector's directory in the user's data directory (the XDG Base Directory spec:
    `$XDG_DATA_HOME` when it is an absolute path, else `~/.local/share`)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "inspector"


def private_dir(directory: Path) -> None:
    """Make `directory` (and its missing parents), 0700; one that exists and is the user's own
    is closed to others; anything else (a link, another user's) raises OSError."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise NotADirectoryError(0, "not a directory of this user's", str(directory))
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)


def save(text: str, path: Path) -> None:
    """Write `text` (and a newline) to `path`, replacing it; its directory is made 0700 (or
    closed to others if it exists and is the user's own) and the file 0600."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(path, flags, 0o600)
    with open(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(descriptor, 0o600)  # an older copy may have been made with other modes
        file.write(text + "\n")
