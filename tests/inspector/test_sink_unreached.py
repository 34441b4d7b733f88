"""A wrapped app that reaches no viewer says so on stderr, once per process, from the sink's
thread: real processes, whose stderr is read. (The 5 s delay is shortened in them, so that
the tests need not wait for it.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ROOT, free_port, listen

APP = """
import time
from inspector import WSGIInspectorMiddleware, sink
sink.UNREACHED_AFTER = 0.2
app = WSGIInspectorMiddleware(lambda environ, start_response: [], bus={bus!r})
made = app.options.bus
while getattr(made, "on_unreached", None) is not None and not made.connected:
    time.sleep(0.01)  # until it said so, or reached a viewer
time.sleep(2.5)  # more attempts to connect (at least one a second): still said once
print("served on", flush=True)
"""


def run_app(env: dict[str, str], bus: str | None = None) -> str:
    """The app's stderr (its stdout says it ran to the end); `bus`: given in code."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": ""}
    result = subprocess.run(
        [sys.executable, "-c", APP.format(bus=bus)],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "served on\n"), result.stderr
    return result.stderr


def test_an_app_that_reaches_no_viewer_says_so_once_naming_the_address() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    said = run_app({"INSPECTOR_BUS": address})
    [line] = said.splitlines()
    assert line.startswith("inspector: pid ")
    assert f" reached no viewer at {address} (from INSPECTOR_BUS) in 0.2 s: " in line
    assert "Connection refused" in line
    assert f"inspector listen --bus {address}" in line
    assert line.endswith(", or set INSPECTOR_BUS to the viewer's address (off turns capture off).")


def test_the_default_address_is_named_as_the_default(tmp_path: Path) -> None:
    said = run_app({"TMPDIR": str(tmp_path)})
    address = f"unix:{tmp_path}/inspector-{os.getuid()}.sock"
    assert f" reached no viewer at {address} (the default: INSPECTOR_BUS is not set)" in said


def test_an_address_given_in_code_is_named_so() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    [line] = run_app({}, bus=address).splitlines()
    assert f" reached no viewer at {address} (given in code) in 0.2 s: " in line
    assert line.endswith(", or give bus= the viewer's address.")


@pytest.mark.parametrize(
    ("env", "in_code"),
    [
        ({"INSPECTOR_BUS": "off"}, False),
        ({"INSPECTOR_BUS": "off"}, True),  # capture goes on (the code said where): no word
        ({"INSPECTOR_RUN_REPORT": "report.jsonl"}, False),  # it starts its viewer, reports
    ],
    ids=["bus-off", "bus-off-bus-in-code", "under-inspector-run"],
)
def test_it_says_nothing_when_capture_is_off_or_under_inspector_run(
    env: dict[str, str], in_code: bool, tmp_path: Path
) -> None:
    nowhere = f"unix:{tmp_path}/nobody.sock"
    env = {key: value.replace("report.jsonl", str(tmp_path / value)) for key, value in env.items()}
    assert run_app({"INSPECTOR_BUS": nowhere, **env}, nowhere if in_code else None) == ""


@pytest.fixture
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with listen(Path(tmp_path_factory.mktemp("v"))) as listener:
        yield listener.bus


def test_it_says_nothing_once_a_viewer_is_reached(viewer: str) -> None:
    assert run_app({"INSPECTOR_BUS": viewer}) == ""
