"""`inspector run -- COMMAND` with real servers on 127.0.0.1, started through `tui.run.main`.

Each server serves `tests.apps.run_apps`' routes (or the Flask and Django versions of them)
with no change to their code; `inspector run --no-tui --save` records what they served. A few
requests go in, Ctrl-C (SIGINT) stops everything, and the saved session must hold each
exchange exactly once, as the client saw it. Servers are slow to start: those tests are
marked `stacks`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from inspector.observe.exchange import Exchange, fold
from inspector.observe.session import read_session
from tests.servers import ROOT, free_port

RUN_MAIN = "import sys; from tui.run import main; sys.exit(main())"
BIN = str(Path(sys.executable).parent)
APPS = "tests.apps.run_apps"
EXPECTED = [
    ("GET", "/hello", 200, b"hello"),
    ("GET", "/missing", 404, b"no such page"),
    ("POST", "/echo", 200, b"ping"),
]


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    session: Path
    out: Path
    err: Path

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def exchanges(self) -> list[Exchange]:
        events = list(read_session(self.session)) if self.session.exists() else []
        return [x for x in fold(events).values() if x.request is not None]

    def wait_for(self, finished: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(x.finished is not None for x in self.exchanges()) < finished:
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, f"not {finished} exchanges:\n{self.stderr()}"
            time.sleep(0.05)

    def stop(self) -> int:
        """Ctrl-C, as a terminal sends it; the status `inspector run` exits with."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)


@contextlib.contextmanager
def inspector_run(
    tmp_path: Path,
    command: Sequence[str],
    *,
    flags: Sequence[str] = ("--no-tui",),
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Iterator[Run]:
    session = tmp_path / "s.jsonl"
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    base = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "200"}
    base["PYTHONPATH"] = str(ROOT)
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", RUN_MAIN, *flags, "--save", str(session), "--", *command],
            cwd=cwd,
            env={**base, **(env or {})},
            stdout=stdout,
            stderr=stderr,
        )
    run = Run(process, session, out, err)
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_listening(run: Run, port: int, timeout: float = 30.0) -> None:
    """Until the server accepts connections: a connection with no request makes no exchange."""
    deadline = time.monotonic() + timeout
    while True:
        assert run.process.poll() is None, run.stderr()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        assert time.monotonic() < deadline, f"nothing listens on {port}:\n{run.stderr()}"
        time.sleep(0.05)


def visit(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        hello = client.get("/hello")
        assert (hello.status_code, hello.content) == (200, b"hello")
        echo = client.post("/echo", content=b"ping")
        assert (echo.status_code, echo.content) == (200, b"ping")
        missing = client.get("/missing")
        assert (missing.status_code, missing.content) == (404, b"no such page")


def seen(exchanges: list[Exchange]) -> list[tuple[str, str, int, bytes]]:
    return sorted(
        (x.request.method, x.request.path, x.response.status, x.response_body.data)  # type: ignore[union-attr]
        for x in exchanges
    )


def gone(pids: list[int]) -> bool:
    """Whether none of `pids` runs any more (a zombie waits only for its parent to reap it)."""
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
                return False
    return True


MANAGE = "python tests/apps/run_django/manage.py runserver 127.0.0.1:{port}"
SERVERS = {
    # name: (command, the interface its app is captured at)
    "uvicorn": ("uvicorn {apps}:asgi_app --port {port}", "asgi"),
    "uvicorn --workers 2": ("uvicorn {apps}:asgi_app --port {port} --workers 2", "asgi"),
    "uvicorn --reload": ("uvicorn {apps}:asgi_app --port {port} --reload", "asgi"),
    "uvicorn.run()": (
        "python -c \"import uvicorn; uvicorn.run('{apps}:asgi_app', port={port})\"",
        "asgi",
    ),
    "uvicorn --interface wsgi": ("uvicorn {apps}:wsgi_app --port {port} --interface wsgi", "wsgi"),
    "gunicorn -w 2": ("gunicorn -w 2 -b 127.0.0.1:{port} {apps}:wsgi_app", "wsgi"),
    "gunicorn -w 2 --preload": (
        "gunicorn -w 2 --preload -b 127.0.0.1:{port} {apps}:wsgi_app",
        "wsgi",
    ),
    "gunicorn -k asgi": ("gunicorn -k asgi -b 127.0.0.1:{port} {apps}:asgi_app", "asgi"),
    "gunicorn -k uvicorn": (
        "gunicorn -k uvicorn.workers.UvicornWorker -b 127.0.0.1:{port} {apps}:asgi_app",
        "asgi",
    ),
    "hypercorn asgi": ("hypercorn -b 127.0.0.1:{port} {apps}:asgi_app", "asgi"),
    "hypercorn wsgi": ("hypercorn -b 127.0.0.1:{port} wsgi:{apps}:wsgi_app", "wsgi"),
    "granian asgi": ("granian --interface asgi --port {port} {apps}:asgi_app", "asgi"),
    "granian wsgi": ("granian --interface wsgi --port {port} {apps}:wsgi_app", "wsgi"),
    "waitress": ("waitress-serve --listen=127.0.0.1:{port} {apps}:wsgi_app", "wsgi"),
    "daphne": ("daphne -b 127.0.0.1 -p {port} {apps}:asgi_app", "asgi"),
    "flask run": ("flask --app tests.apps.run_flask:app run --port {port}", "wsgi"),
    "flask run --reload": (
        "flask --app tests.apps.run_flask:app run --port {port} --reload",
        "wsgi",
    ),
    "django runserver --noreload": (MANAGE + " --noreload", "wsgi"),
    "django runserver (autoreload)": (MANAGE, "wsgi"),
    "django under gunicorn": (
        "gunicorn -b 127.0.0.1:{port} tests.apps.run_django.wsgi:application",
        "wsgi",
    ),
    "django under uvicorn": (
        "uvicorn --port {port} tests.apps.run_django.asgi:application",
        "asgi",
    ),
}


def command_line(template: str, port: int) -> list[str]:
    return shlex.split(template.format(apps=APPS, port=port))


@pytest.mark.stacks
@pytest.mark.parametrize("name", list(SERVERS))
def test_a_server_is_captured_with_no_code_change(tmp_path: Path, name: str) -> None:
    template, interface = SERVERS[name]
    port = free_port()
    command = command_line(template, port)
    with inspector_run(tmp_path, command) as run:
        wait_listening(run, port)
        visit(port)
        run.wait_for(len(EXPECTED))
        status = run.stop()
    exchanges = run.exchanges()
    assert seen(exchanges) == EXPECTED, run.stderr()
    assert {x.request.source for x in exchanges} == {interface}  # type: ignore[union-attr]
    # Stopped by SIGTERM, a server exits 0 (gracefully) or dies of it, as uvicorn chooses to.
    assert status in {0, 128 + signal.SIGTERM}, run.stderr()
    # Every process that served was told about: each one's pid, and none left running.
    stderr = run.stderr()
    served = [int(pid) for pid in re.findall(r"inspector run: capturing .* in pid (\d+)", stderr)]
    assert served, stderr
    assert gone(served)
    assert "nothing was captured" not in stderr


IN_CODE = {
    "uvicorn": ("uvicorn {apps}:asgi_wrapped --port {port}", {}),
    "gunicorn": ("gunicorn -b 127.0.0.1:{port} {apps}:wsgi_wrapped", {}),
    # Inside the app: `app.wsgi_app = WSGIInspectorMiddleware(app.wsgi_app)`.
    "flask run": ("flask --app tests.apps.run_flask:wrapped run --port {port}", {}),
    # Around the patched getter: `WSGIInspectorMiddleware(get_wsgi_application())`.
    "django runserver": (
        MANAGE + " --noreload",
        {"DJANGO_SETTINGS_MODULE": "tests.apps.run_django.settings_wrapped"},
    ),
}


@pytest.mark.stacks
@pytest.mark.parametrize("name", list(IN_CODE))
def test_an_app_that_captures_in_code_is_recorded_once(tmp_path: Path, name: str) -> None:
    template, env = IN_CODE[name]
    port = free_port()
    command = command_line(template, port)
    with inspector_run(tmp_path, command, env=env) as run:
        wait_listening(run, port)
        visit(port)
        run.wait_for(len(EXPECTED))
        status = run.stop()
    assert seen(run.exchanges()) == EXPECTED, run.stderr()
    assert status in {0, 128 + signal.SIGTERM}


def test_a_server_that_loads_no_app_says_so_with_its_status(tmp_path: Path) -> None:
    command = ["uvicorn", "tests.apps.no_such_module:app", "--port", str(free_port())]
    with inspector_run(tmp_path, command) as run:
        assert run.process.wait(30) == 3  # uvicorn's STARTUP_FAILURE
    stderr = run.stderr()
    assert 'Could not import module "tests.apps.no_such_module"' in stderr
    assert "inspector run: nothing was captured: `uvicorn` loaded no app\n" in stderr


def test_output_passes_through_and_the_status_is_the_commands(tmp_path: Path) -> None:
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    with inspector_run(tmp_path, ["python", "-c", code]) as run:
        assert run.process.wait(30) == 3
    assert "to stdout" in run.stdout()
    assert "to stderr" in run.stderr()


def test_a_command_that_serves_no_known_server_is_told_what_to_add(tmp_path: Path) -> None:
    with inspector_run(tmp_path, ["python", "-c", "print('hi')"]) as run:
        assert run.process.wait(30) == 0
    stderr = run.stderr()
    assert "inspector run: nothing was captured: `python` served no app through a server" in stderr
    assert "ASGIInspectorMiddleware" in stderr
    assert "WSGIInspectorMiddleware" in stderr


def test_a_command_that_is_not_python_is_told_what_to_add(tmp_path: Path) -> None:
    with inspector_run(tmp_path, ["sh", "-c", "exit 5"]) as run:
        assert run.process.wait(30) == 5
    stderr = run.stderr()
    assert "`sh` started no Python that loaded inspector's bootstrap" in stderr
    assert "ASGIInspectorMiddleware" in stderr


def test_a_command_that_does_not_exist(tmp_path: Path) -> None:
    with inspector_run(tmp_path, ["no-such-server-here"]) as run:
        assert run.process.wait(30) == 127
    assert run.stderr() == "inspector run: no-such-server-here: command not found\n"


def test_a_python_without_inspector_is_named_with_how_to_install(tmp_path: Path) -> None:
    # A virtualenv of its own, without inspector; run from a directory without it either.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "other")], check=True
    )
    other = tmp_path / "other" / "bin" / "python"
    script = tmp_path / "other" / "bin" / "serve"
    script.write_text(f"#!{other}\nprint('served')\n", encoding="utf-8")
    script.chmod(0o755)
    env = {"PYTHONPATH": ""}
    with inspector_run(tmp_path, [str(script)], env=env, cwd=tmp_path) as run:
        assert run.process.wait(30) == 1
    stderr = run.stderr()
    assert f"`serve` runs on {other}, which cannot import inspector" in stderr
    assert f"{other} -m pip install -e {ROOT}" in stderr
    assert not (tmp_path / "s.jsonl").exists()  # refused before anything started

    # Through a shell, the interpreter is only known once it ran: the bootstrap says so.
    with inspector_run(tmp_path, ["sh", "-c", f"{other} -c pass"], env=env, cwd=tmp_path) as run:
        assert run.process.wait(30) == 0
    stderr = run.stderr()
    assert f"{other} (pid " in stderr
    assert "cannot import inspector, so nothing is captured in it" in stderr
    assert f"install inspector into it: {other} -m pip install -e {ROOT}" in stderr


@pytest.mark.stacks
def test_a_command_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)"
    )
    with inspector_run(tmp_path, ["python", "-c", code]) as run:
        deadline = time.monotonic() + 30
        while "ready" not in run.stdout():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run.stop() == 128 + signal.SIGKILL


@pytest.mark.stacks
@pytest.mark.parametrize("key", ["q", "C-c"])
def test_with_the_viewer_output_goes_to_a_log_l_shows_it_and_q_stops_the_command(
    tmp_path: Path, key: str
) -> None:
    """Ctrl-C as well: the viewer owns the terminal (raw mode: no SIGINT), and quits on it."""
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    session = f"inspector-run-test-{free_port()}"
    port = free_port()
    log, status = tmp_path / "server.log", tmp_path / "status"
    command = (
        f"env -u COLUMNS -u LINES PATH={BIN}:$PATH PYTHONPATH={ROOT} "
        f"{sys.executable} -c '{RUN_MAIN}' --log {log} -- uvicorn {APPS}:asgi_app --port {port}"
        f"; echo $? > {status}; sleep 60"  # the pane stays, with what was said at the end
    )
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "30", "-c", str(ROOT), command)
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "Uvicorn running" in log.read_text()):
            assert time.monotonic() < deadline, tmux("capture-pane", "-p", "-t", session)
            time.sleep(0.1)
        visit(port)
        deadline = time.monotonic() + 30
        while "/missing" not in (screen := tmux("capture-pane", "-p", "-t", session)):
            assert time.monotonic() < deadline, screen
            time.sleep(0.1)
        assert "Uvicorn running" not in screen  # the server's log stays off the viewer
        tmux("send-keys", "-t", session, "L")
        deadline = time.monotonic() + 30
        while "Uvicorn running" not in (screen := tmux("capture-pane", "-p", "-t", session)):
            assert time.monotonic() < deadline, screen
            time.sleep(0.1)
        assert str(log) in screen
        tmux("send-keys", "-t", session, "Escape")
        deadline = time.monotonic() + 30
        while "server log" in (screen := tmux("capture-pane", "-p", "-t", session)):
            assert time.monotonic() < deadline, screen  # back on the list, escape taken alone
            time.sleep(0.1)
        tmux("send-keys", "-t", session, key)
        deadline = time.monotonic() + 30
        while not status.exists() or not status.read_text().strip():
            assert time.monotonic() < deadline, tmux("capture-pane", "-p", "-t", session)
            time.sleep(0.1)
        said = tmux("capture-pane", "-p", "-J", "-t", session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
    # uvicorn re-raises the SIGTERM it stopped on
    assert status.read_text().strip() == str(128 + signal.SIGTERM)
    assert "GET /hello HTTP/1.1" in log.read_text()  # uvicorn's access log, in the file
    assert f"inspector run: the command's output is in {log}" in said
    assert "inspector run: capturing tests.apps.run_apps.asgi_app (ASGI) served by uvicorn" in said
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass  # the server stopped with the viewer


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout
