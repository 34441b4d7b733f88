"""`--save` on a full disk: said once when saving stops, once when it resumes with the exact
count of events not saved, and again at exit; in the viewer, a notification and the subtitle.

A full disk for real, without root: /dev/full put in the writer's place (every write fails
with ENOSPC), or a file size limit (RLIMIT_FSIZE) on a real `inspector listen` process,
raised again from outside with `prlimit` once "space returns".
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from inspector import events as ev
from inspector.capture.wsgi import WSGIInspectorMiddleware
from inspector.observe.session import read_session
from inspector.runtime import sink_to
from tests.servers import ROOT
from tests.tui.pilot import SIZE, until
from tui.outputs import Outputs


def arguments(save: Path, no_tui: bool) -> argparse.Namespace:
    return argparse.Namespace(
        save=str(save),
        redact=False,
        no_tui=no_tui,
        filter=None,
        store_exchanges=100,
        store_mib=64,
    )


def finished(n: int) -> ev.ExchangeFinished:
    return ev.ExchangeFinished(f"test-{n}", n, "completed", 1, 2, 3)


@contextmanager
def disk_full(fd: int) -> Iterator[None]:
    """Every write to `fd` fails with ENOSPC until the block ends."""
    the_file = os.dup(fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)
    try:
        yield
    finally:
        os.dup2(the_file, fd)
        os.close(full)
        os.close(the_file)


def test_headless_says_it_once_counts_exactly_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.jsonl"
    outputs = Outputs(arguments(path, no_tui=True))
    assert outputs.writer is not None
    outputs([finished(1)])
    with disk_full(outputs.writer.fileno()):
        for n in range(2, 12):
            outputs([finished(n), finished(100 + n)])
        said = capsys.readouterr().err
    outputs([finished(12)])
    resumed = capsys.readouterr().err
    outputs.close()
    at_exit = capsys.readouterr().err
    assert said == (
        f"inspector: cannot save to {path}: No space left on device; events are counted, "
        "not saved, until it can write again\n"
    )
    assert resumed == f"inspector: saving to {path} again; 20 events were not saved\n"
    assert at_exit == f"inspector: 20 events were not saved to {path}\n"
    assert [e.at_ns for e in read_session(path)] == [1, 12]


async def test_the_viewer_shows_it_in_a_notification_and_its_subtitle(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    outputs = Outputs(arguments(path, no_tui=False))
    assert outputs.writer is not None
    app = outputs.viewer("inspector", "listening on here")
    async with app.run_test(size=SIZE) as pilot:
        with disk_full(outputs.writer.fileno()):
            outputs([finished(1), finished(2)])
            outputs([finished(3)])
        await pilot.pause()
        assert app.sub_title == "listening on here · NOT SAVING: No space left on device"
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors == [
            f"cannot save to {path}: No space left on device; events are "
            "counted, not saved, until it can write again"
        ]
        outputs([finished(4)])
        await until(pilot, lambda: len(app.store) == 4)
        assert app.sub_title == "listening on here · 3 events not saved"
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert warnings == [f"saving to {path} again; 3 events were not saved"]
    outputs.close()
    assert [e.at_ns for e in read_session(path)] == [4]


# -- a real `inspector listen` process --------------------------------------------------------

LIMITED = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, a write fails (EFBIG)
resource.setrlimit(
    resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_FSIZE)[1])
)
os.execv(sys.executable, [sys.executable, "-m", "tui", *sys.argv[2:]])
"""


def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"ok"]


def start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
    return lambda data: None


def exchanges(app: WSGIInspectorMiddleware, queries: Iterable[str]) -> None:
    """Exchanges through the real capture middleware, called as a WSGI server would."""
    for query in queries:
        environ: dict[str, Any] = {"QUERY_STRING": query}
        setup_testing_defaults(environ)
        result = app(environ, start_response)
        assert b"".join(result) == b"ok"
        getattr(result, "close", lambda: None)()  # PEP 3333: the server calls close()


def test_listen_saves_again_once_there_is_room(tmp_path: Path) -> None:
    path, bus = tmp_path / "s.jsonl", tmp_path / "bus.sock"
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    listen = ["listen", "--bus", f"unix:{bus}", "--no-tui", "--save", str(path)]
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", LIMITED, "1024", *listen],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "COLUMNS": "200"},
        )
    sink = None
    try:
        wait_for(bus.exists)
        sink = sink_to(f"unix:{bus}")
        wait_for(lambda: "connected" in out.read_text())  # its line fits under the limit
        app = WSGIInspectorMiddleware(hello, bus=sink)
        exchanges(app, [f"full={n}" for n in range(5)])  # these no longer fit: "disk full"
        wait_for(lambda: out.read_text().count(" GET ") == 5)
        wait_for(lambda: "cannot save" in err.read_text())
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (hard, hard))  # room again
        exchanges(app, [f"room={n}" for n in range(3)])
        wait_for(lambda: out.read_text().count(" GET ") == 8)
    finally:
        if sink is not None:
            sink.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    saved = list(read_session(path))
    queries = [e.query for e in saved if isinstance(e, ev.RequestStarted)]
    assert queries == [b"room=0", b"room=1", b"room=2"]
    per_exchange = sum(1 for e in saved if e.exchange_id) // 3
    lines = err.read_text().splitlines()
    assert [line for line in lines if "cannot save" in line] == [
        f"inspector: cannot save to {path}: File too large; events are counted, not saved, "
        "until it can write again"
    ]
    lost = 5 * per_exchange
    assert f"inspector: saving to {path} again; {lost} events were not saved" in lines
    assert lines[-1] == f"inspector: {lost} events were not saved to {path}"
