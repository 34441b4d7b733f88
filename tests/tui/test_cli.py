"""The command lines' own behaviour: reopening sessions, exports, and clear errors."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from msgspec.structs import replace

from inspector import events as ev
from inspector.observe.exchange import fold
from inspector.observe.export import curl_all, har_json
from inspector.observe.session import SessionWriter, read_session
from inspector.redact import REDACTED
from tests.inspector.samples import XID, request_started
from tests.servers import ROOT, free_port, serve

PROXY_MAIN = "import sys; from tui.cli import proxy_main; sys.exit(proxy_main())"


def inspector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def session(tmp_path: Path) -> Path:
    path = tmp_path / "s.jsonl"
    writer = SessionWriter(path)
    writer(
        [
            ev.PeerConnected("", 1, "test", "web-1", 4242, "gunicorn"),
            request_started(),
            ev.ResponseStarted(XID, 2_000_000, 201, ((b"content-type", b"text/plain"),), False),
            ev.ResponseBodyChunk(XID, 3_000_000, b"made", 4, False),
            ev.ExchangeFinished(XID, 4_000_000, "completed", 10, 1_000_000, 3_000_000),
        ]
    )
    writer.close()
    return path


def test_open_headless_prints_the_session(session: Path) -> None:
    result = inspector("open", str(session), "--no-tui")
    assert result.returncode == 0, result.stderr
    assert "gunicorn[4242] on web-1 connected" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "/items" in line)
    assert "GET" in line
    assert " 201 " in line
    assert "3.0 ms" in line
    assert "gunicorn[4242]" in line


def test_open_filters(session: Path) -> None:
    assert "/items" not in inspector("open", str(session), "--no-tui", "--filter", "~c 4xx").stdout
    assert "/items" in inspector("open", str(session), "--no-tui", "--filter", "~c 201").stdout


def test_export_writes_curl(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.sh"
    result = inspector("export", str(session), "--curl", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"inspector export: 1 exchange written to {out}\n"
    assert out.read_text().startswith("curl 'http://example.test/items?page=2'")


def test_export_counts_in_words(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    write_session(path, 2)
    har, curl = tmp_path / "s.har", tmp_path / "s.sh"
    result = inspector("export", str(path), "--har", str(har), "--curl", str(curl))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"inspector export: 2 exchanges written to {har} and {curl}\n"


def test_damaged_lines_are_counted_in_words(tmp_path: Path) -> None:
    path = tmp_path / "damaged.jsonl"
    write_session(path, 1)
    with path.open("a") as file:
        file.write("not json\n" * 6)
    result = inspector("open", str(path), "--no-tui")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("skipped a damaged line") == 5
    assert "inspector: ... and 1 more damaged line\n" in result.stderr


@pytest.fixture
def not_sessions(tmp_path: Path) -> dict[str, Path]:
    """Files that are no session: missing, empty, a directory, some other text."""
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "notes.txt").write_text("dear diary\n")
    names = {"missing": "missing.jsonl", "empty": "empty.jsonl", "directory": "dir.jsonl"}
    return {kind: tmp_path / name for kind, name in {**names, "text": "notes.txt"}.items()}


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("missing", "{path}: no such file"),
        ("empty", "{path} is empty: not an inspector session"),
        ("directory", "{path} is a directory, not a session file"),
        ("text", "{path}: not an inspector session (line 1 is not a session header)"),
    ],
)
@pytest.mark.parametrize("command", ["open", "export"])
def test_a_file_that_is_no_session_is_one_line_and_status_2(
    not_sessions: dict[str, Path], tmp_path: Path, kind: str, error: str, command: str
) -> None:
    path = not_sessions[kind]
    har = tmp_path / "out.har"
    args = ("--no-tui",) if command == "open" else ("--har", str(har))
    result = inspector(command, str(path), *args)
    assert result.returncode == 2
    assert result.stderr == f"inspector {command}: " + error.format(path=path) + "\n"
    assert result.stdout == ""
    assert not har.exists()


def test_an_empty_session_has_nothing_to_open_or_export(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    SessionWriter(path).close()  # the header alone: `--save` that never received anything
    har = tmp_path / "out.har"
    result = inspector("export", str(path), "--har", str(har))
    assert result.returncode == 1
    assert result.stderr == f"inspector export: nothing to export: {path} holds no exchanges\n"
    assert not har.exists()
    result = inspector("open", str(path), "--no-tui")
    assert result.returncode == 1
    assert result.stderr == (
        f"inspector open: {path} is an empty session: no events were saved in it\n"
    )


def test_a_filter_that_matches_nothing_has_nothing_to_export(session: Path, tmp_path: Path) -> None:
    har = tmp_path / "out.har"
    result = inspector("export", str(session), "--har", str(har), "--filter", "~c 404")
    assert result.returncode == 1
    assert result.stderr == (
        f"inspector export: nothing to export: no exchange in {session} matches --filter '~c 404'\n"
    )
    assert not har.exists()


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """A session whose request carries a token and a cookie."""
    path = tmp_path / "secrets.jsonl"
    headers = ((b"host", b"example.test"), (b"Authorization", b"Bearer s3cret"))
    writer = SessionWriter(path)
    writer([replace(request_started(), headers=(*headers, (b"Cookie", b"id=s3cret")))])
    writer.close()
    return path


def test_export_masks_secrets_as_the_viewer_does_unless_told_not_to(
    secrets: Path, tmp_path: Path
) -> None:
    har, sh = tmp_path / "s.har", tmp_path / "s.sh"
    assert inspector("export", str(secrets), "--har", str(har), "--curl", str(sh)).returncode == 0
    masked = json.loads(har.read_text())["log"]["entries"][0]["request"]["headers"]
    assert masked[1:] == [
        {"name": "Authorization", "value": REDACTED},
        {"name": "Cookie", "value": REDACTED},
    ]
    assert "s3cret" not in har.read_text() + sh.read_text()
    assert f"-H 'Authorization: {REDACTED}'" in sh.read_text()
    # The same function as the viewer's export, with its default set to mask.
    exchanges = list(fold(read_session(secrets)).values())
    assert har.read_text() == har_json(exchanges, redact=True) + "\n"
    assert sh.read_text() == curl_all(exchanges, redact=True) + "\n"
    args = ("--har", str(har), "--curl", str(sh), "--no-redact")
    assert inspector("export", str(secrets), *args).returncode == 0
    assert "Bearer s3cret" in har.read_text()
    assert "-H 'Cookie: id=s3cret'" in sh.read_text()


def test_export_files_are_private_and_never_written_through_a_symlink(
    session: Path, tmp_path: Path
) -> None:
    har, sh = tmp_path / "new.har", tmp_path / "old.sh"
    sh.write_text("older\n")
    sh.chmod(0o644)
    result = inspector("export", str(session), "--har", str(har), "--curl", str(sh))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(har.stat().st_mode) == 0o600
    assert stat.S_IMODE(sh.stat().st_mode) == 0o600  # replaced, and private now
    assert sh.read_text().startswith("curl ")
    target = tmp_path / "target.har"
    target.write_text("theirs\n")
    link = tmp_path / "link.har"
    link.symlink_to(target)
    result = inspector("export", str(session), "--har", str(link))
    assert result.returncode == 1
    assert result.stderr == (
        f"inspector export: {link} is a symbolic link, and exports are never written through "
        "one: remove the link or choose another path\n"
    )
    assert target.read_text() == "theirs\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("export", "SESSION"),
            "say what to write: --har FILE, --curl FILE, --pytest FILE, --otlp URL and/or"
            " --otlp-json FILE",
        ),
        (
            ("export", "SESSION", "--har", "/nonexistent/dir/s.har"),
            "cannot write /nonexistent/dir/s.har: no such file or directory",
        ),
        (("export", "SESSION", "--har", "x.har", "--filter", "~c abc"), "~c"),
        (("listen", "--bus", "tcp://0.0.0.0:0", "--no-tui"), "--allow-remote and a --token"),
        (("listen", "--bus", "nonsense", "--no-tui"), "not a bus address"),
    ],
)
def test_user_errors_are_one_clear_line(session: Path, args: tuple[str, ...], error: str) -> None:
    result = inspector(*(str(session) if a == "SESSION" else a for a in args))
    assert result.returncode == 1
    assert error in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_proxy_headless_prints_and_saves(tmp_path: Path) -> None:
    session = tmp_path / "proxy.jsonl"
    port = free_port()
    with serve("uvicorn", "tests.apps.asgi_cases:app", tmp_path) as upstream:
        where = ["--upstream", f"http://127.0.0.1:{upstream.port}", "--listen", str(port)]
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                PROXY_MAIN,
                *where,
                "--no-tui",
                "--save",
                str(session),
                "--redact",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )
        try:
            for _ in range(500):
                with contextlib.suppress(httpx.TransportError):
                    response = httpx.get(
                        f"http://127.0.0.1:{port}/plain?n=1",
                        headers={"Authorization": "Bearer s3cret"},
                    )
                    break
                time.sleep(0.02)
            assert response.status_code == 200
            for _ in range(500):
                if session.exists() and "ExchangeFinished" in session.read_text():
                    break
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=10)
    assert f"inspect-proxy: http://127.0.0.1:{port} -> 127.0.0.1:{upstream.port}" in err
    assert re.search(r"proxy +GET +200 .*/plain\?n=1", out), out
    events = list(read_session(session))
    started = next(e for e in events if isinstance(e, ev.RequestStarted))
    assert (b"Authorization", b"[redacted]") in started.headers  # --redact masks the save
    assert "s3cret" not in session.read_text()


def test_inspect_proxy_refuses_a_bad_upstream() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROXY_MAIN, "--upstream", "nowhere:port", "--no-tui"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not an address: 'nowhere:port'" in result.stderr


def test_listen_takes_its_address_and_token_from_the_environment(tmp_path: Path) -> None:
    """One exported INSPECTOR_BUS configures the app and the viewer alike."""
    from inspector import wire
    from inspector.sink import Sink

    path = tmp_path / "env.sock"
    env = {"INSPECTOR_BUS": f"unix:{path}", "INSPECTOR_TOKEN": "s3cret", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "listen", "--no-tui"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for _ in range(500):
            if path.exists():
                break
            time.sleep(0.01)
        address = wire.Address("unix", path=str(path))
        refused, welcomed = Sink(address, name="no-token"), Sink(address, token="s3cret")
        try:
            assert welcomed.flush(5)
            assert not refused.connected
            assert "wrong or missing token" in (refused.last_error or "")
        finally:
            refused.close()
            welcomed.close()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert f"listening on unix:{path}" in err
    assert "connected" in out


def test_listen_refuses_to_listen_when_capture_is_off() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "listen", "--no-tui"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"INSPECTOR_BUS": "off", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "INSPECTOR_BUS is off" in result.stderr


def write_session(path: Path, exchanges: int) -> None:
    writer = SessionWriter(path)
    for start in range(0, exchanges, 1000):
        batch: list[ev.Event] = []
        for n in range(start, min(start + 1000, exchanges)):
            xid = f"test-{n}"
            batch += [
                replace(request_started(), exchange_id=xid, query=f"n={n}".encode()),
                ev.ExchangeFinished(xid, 2_000_000, "completed", 10, 1_000_000, 1_000_000),
            ]
        writer(batch)
    writer.close()


def test_open_headless_prints_every_exchange_of_a_large_session(tmp_path: Path) -> None:
    """More exchanges than the live log would hold waiting for its reader (10,000): a saved
    session waits for the reader instead, and every line comes out, in order."""
    path = tmp_path / "large.jsonl"
    write_session(path, 12_000)
    result = inspector("open", str(path), "--no-tui")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.rpartition("?n=")[2].split()[0] for line in lines] == [
        str(n) for n in range(12_000)
    ]


def test_open_headless_stops_reading_when_nobody_reads(tmp_path: Path) -> None:
    path = tmp_path / "large.jsonl"
    write_session(path, 12_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "open", str(path), "--no-tui"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "?n=0" in process.stdout.readline()
    process.stdout.close()  # `| head -1`
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["listen", "open"])
def test_save_refuses_a_symlink_and_a_file_others_may_read(
    session: Path, tmp_path: Path, command: str
) -> None:
    where = ("--bus", f"unix:{tmp_path / 'bus.sock'}") if command == "listen" else (str(session),)
    target = tmp_path / "theirs.jsonl"
    target.write_bytes(b"")
    target.chmod(0o600)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    result = inspector(command, *where, "--no-tui", "--save", str(link))
    assert result.returncode == 1
    assert f"{link} is a symbolic link" in result.stderr
    assert "remove the link or choose another path" in result.stderr
    assert target.read_bytes() == b""
    shared = tmp_path / "shared.jsonl"
    shared.write_bytes(b"")
    shared.chmod(0o644)
    result = inspector(command, *where, "--no-tui", "--save", str(shared))
    assert result.returncode == 1
    assert f"run `chmod 600 {shared}` or choose another path" in result.stderr
    assert shared.read_bytes() == b""
    assert "Traceback" not in result.stderr
