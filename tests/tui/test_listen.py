"""`inspector listen` with real workers: gunicorn and uvicorn processes fan in to one collector.

Everything here is a real process on 127.0.0.1 or a Unix socket in tmp_path: the wrapped app's
workers stream events through their sinks to `inspector listen --no-tui --save`, which prints
a line per exchange and appends every event to the session file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import jsonschema
import pytest

from inspector import events as ev
from inspector.observe.exchange import Exchange, fold
from inspector.observe.session import read_session
from tests.servers import ROOT, serve

HAR_SCHEMA = ROOT / "tests" / "inspector" / "observe" / "har12.schema.json"


@dataclass
class Listener:
    process: subprocess.Popen[str]
    session: Path
    socket: Path

    def events(self) -> list[ev.Event]:
        return list(read_session(self.session)) if self.session.exists() else []

    def wait_for(self, finished: int, timeout: float = 20.0) -> list[ev.Event]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            done = sum(isinstance(e, ev.ExchangeFinished) for e in events)
            if done >= finished or time.monotonic() > deadline:
                assert done == finished, f"{done} exchanges arrived, expected {finished}"
                return events
            time.sleep(0.02)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=10)
        return out


@contextlib.contextmanager
def listen(tmp_path: Path, name: str = "s.jsonl") -> Iterator[Listener]:
    sock = tmp_path / "bus.sock"
    session = tmp_path / name
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui",
            "listen",
            "--bus",
            f"unix:{sock}",
            "--no-tui",
            "--save",
            str(session),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    listener = Listener(process, session, sock)
    try:
        for _ in range(500):
            if sock.exists():
                break
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.01)
        yield listener
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def pids_of(exchanges: dict[str, Exchange], events: list[ev.Event]) -> dict[str, int]:
    """Which worker each exchange came from, by its id's prefix, per the collector."""
    by_prefix = {e.prefix: e.pid for e in events if isinstance(e, ev.PeerConnected)}
    return {xid: by_prefix[xid.rpartition("-")[0]] for xid in exchanges}


def get_all(url: str, paths: list[str]) -> list[httpx.Response]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda path: httpx.get(url + path, timeout=10), paths))


@pytest.mark.parametrize(
    ("server", "app", "args"),
    [
        ("gunicorn", "tests.apps.fan_in:wsgi_app", ""),
        # Preloaded: the bus and sink are made in the master, before the workers fork.
        ("gunicorn", "tests.apps.fan_in:wsgi_app", "--preload"),
        ("uvicorn", "tests.apps.fan_in:asgi_app", ""),
    ],
)
def test_every_worker_fans_in_to_one_viewer(
    tmp_path: Path, server: str, app: str, args: str
) -> None:
    with listen(tmp_path) as listener:
        env = {"INSPECTOR_BUS": f"unix:{listener.socket}", "GUNICORN_CMD_ARGS": args}
        with serve(
            server, app, tmp_path, extra_env=env, workers=3 if server == "gunicorn" else 2
        ) as s:
            paths = [f"/slow?n={n}" for n in range(6)] + [f"/?n={n}" for n in range(6, 40)]
            responses = get_all(s.url, paths)
            assert {r.status_code for r in responses} == {200}
            events = listener.wait_for(len(paths))
        out = listener.stop()
    exchanges = {x: e for x, e in fold(events).items() if e.request is not None}
    assert sorted(e.request.query for e in exchanges.values()) == sorted(  # type: ignore[union-attr]
        p.partition("?")[2].encode() for p in paths
    )
    # Each exchange is attributed to the worker that really served it.
    served_by = {json.loads(e.response_body.data)["pid"] for e in exchanges.values()}
    assert pids_of(exchanges, events) == {
        x: json.loads(e.response_body.data)["pid"] for x, e in exchanges.items()
    }
    assert len(served_by) >= 2  # concurrent slow requests spread over the workers
    # One headless line per exchange, naming the worker.
    lines = [line for line in out.splitlines() if " GET " in line]
    assert len(lines) == len(paths)
    for pid in served_by:
        assert any(f"[{pid}]" in line for line in lines)
    # The saved session exports to a valid HAR that matches what was sent.
    har_path = tmp_path / "s.har"
    subprocess.run(
        [sys.executable, "-m", "tui", "export", str(listener.session), "--har", str(har_path)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    har = json.loads(har_path.read_text())
    jsonschema.validate(har, json.loads(HAR_SCHEMA.read_text()))
    entries = sorted(har["log"]["entries"], key=lambda entry: entry["request"]["url"])
    assert [entry["request"]["url"] for entry in entries] == sorted(s.url + p for p in paths)
    for entry in entries:
        assert (entry["request"]["method"], entry["response"]["status"]) == ("GET", 200)
        assert json.loads(entry["response"]["content"]["text"])["pid"] in served_by


def test_the_app_does_not_care_whether_the_viewer_lives(tmp_path: Path) -> None:
    env = {"INSPECTOR_BUS": f"unix:{tmp_path / 'bus.sock'}", "INSPECTOR_BUFFER": "20"}
    with serve("gunicorn", "tests.apps.fan_in:wsgi_app", tmp_path, extra_env=env) as s:
        # No viewer yet: requests succeed.
        assert [r.status_code for r in get_all(s.url, ["/?n=0"] * 3)] == [200] * 3
        with listen(tmp_path, "first.jsonl") as first:
            # A viewer started after the app picks up its traffic (what the sink kept, too).
            assert httpx.get(s.url + "/?n=1").status_code == 200
            first_events = [e for e in first.wait_for(4) if e.exchange_id]
            first.process.kill()  # the viewer dies mid-run
            first.process.communicate()
        # Every request still succeeds while nobody listens; the sink keeps only 20 events.
        assert [r.status_code for r in get_all(s.url, ["/?n=2"] * 30)] == [200] * 30
        with listen(tmp_path, "second.jsonl") as second:
            assert httpx.get(s.url + "/?n=3").status_code == 200
            deadline = time.monotonic() + 20
            while not any(
                isinstance(e, ev.RequestStarted) and e.query == b"n=3" for e in second.events()
            ):
                assert time.monotonic() < deadline, "no events after the viewer came back"
                time.sleep(0.02)
            events = second.events()
            second.stop()
    per_request = len(first_events) // 4  # the first viewer got 4 whole exchanges
    dropped = [e for e in events if isinstance(e, ev.EventsDropped)]
    assert [d.where for d in dropped] == ["sink"]
    kept = sum(1 for e in events if e.exchange_id)
    # 31 requests passed while nobody listened (30, and the one that raced the reconnection):
    # the sink kept at most 20 events; the report accounts for every other one.
    assert kept <= 20 + per_request
    assert dropped[0].count + kept == 31 * per_request


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_listen_removes_its_socket_when_stopped(tmp_path: Path, number: signal.Signals) -> None:
    """Ctrl-C, or SIGTERM (`kill`, a service manager): no socket file is left behind."""
    with listen(tmp_path) as listener:
        listener.process.send_signal(number)
        out, _ = listener.process.communicate(timeout=10)
    assert not listener.socket.exists()
    assert listener.process.returncode == 0, out
    assert "Traceback" not in out
