"""`--otlp` on the command lines: live spans from `OtlpOutput` (filtered, paired, the loss
counted in the status bar and at exit), `inspector export --otlp/--otlp-json`, `inspect-proxy
--otlp` through its viewer child, and a base install that never loads OpenTelemetry."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from inspector import events as ev
from inspector.events import exchange_id_prefix
from inspector.observe.session import SessionWriter
from tests.inspector.observe.test_otlp import app
from tests.otlp_backend import (
    Backend,
    Traffic,
    backend,
    down_url,
    flatten,
    traffic,
)
from tests.servers import ROOT, free_port
from tui.cli import main
from tui.otlp import OtlpOutput, child_flags
from tui.outputs import Outputs
from tui.widgets.footer import Status, status_text


@pytest.fixture
def running() -> Iterator[Traffic]:
    with traffic(app) as t:
        yield t


@pytest.fixture
def otlp() -> Iterator[Backend]:
    with backend() as b:
        yield b


def options(url: str, *extra: str) -> argparse.Namespace:
    """The flags as `inspector listen` parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--filter")
    parser.add_argument("--no-tui", action="store_true")
    from tui.otlp import add_otlp_flags

    add_otlp_flags(parser)
    return parser.parse_args(["--otlp", url, *extra])


def test_live_spans_are_filtered_paired_and_carry_the_process_and_the_auth_header(
    running: Traffic, otlp: Backend
) -> None:
    args = options(otlp.url, "--otlp-headers", "x-token=abc", "--filter", "~u /items")
    output = OtlpOutput(args, print)  # paired as the viewer pairs them (inspector.observe.pairing)
    output([ev.PeerConnected("", 0, exchange_id_prefix(), "web-1", os.getpid(), "shop")])
    running.bus.subscribe(output)
    httpx.get(f"{running.proxy_url}/items/4")
    httpx.get(f"{running.proxy_url}/v2/things/x")  # filtered out
    running.events(4)
    line = output.close(timeout=20)
    spans = otlp.spans(3)
    assert line == f"OTLP: 3 spans sent to {otlp.url}/v1/traces"
    assert {h["x-token"] for h in otlp.headers} == {"abc"}
    by_kind = {(s.attributes.get("inspector.source"), s.span.kind): s for s in spans}
    server = by_kind["proxy", Span.SPAN_KIND_SERVER]
    client = by_kind[None, Span.SPAN_KIND_CLIENT]
    app_span = by_kind["asgi", Span.SPAN_KIND_SERVER]
    assert len(spans) == 3
    assert client.span.parent_span_id == server.span.span_id
    assert app_span.span.parent_span_id == client.span.span_id
    assert server.resource["service.name"] == "inspect-proxy"
    assert app_span.resource == {
        "service.name": "shop",
        "host.name": "web-1",
        "process.pid": os.getpid(),
    }
    # Bodies were not asked for: the live fold keeps none (only their sizes).
    assert "http.response.body.content" not in app_span.attributes
    assert app_span.attributes["http.response.body.size"] > 0
    # Phases are known from the live events even though the fold keeps no event list.
    assert "response.first_byte" in [name for name, _, _ in app_span.events()]


def test_a_down_backend_costs_the_viewer_nothing_and_the_loss_shows(
    running: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    args = options(down_url())
    outputs = Outputs(argparse.Namespace(**vars(args), store_exchanges=10, store_mib=10))
    assert outputs.otlp is not None
    running.bus.subscribe(outputs)
    for n in range(3):
        httpx.get(f"{running.app_url}/items/{n}")
    running.events(3)  # delivered: the bus thread was never held up by the backend
    status = outputs.otlp.status()
    assert status.startswith("OTLP 0 sent")
    outputs.close()
    err = capsys.readouterr().err
    assert err.count("OTLP: cannot send spans to") <= 1
    assert err.endswith(
        f"OTLP: 0 spans sent to {outputs.otlp.sender.url}; 3 exchanges not sent (dropped)\n"
    )


def test_the_status_bar_shows_what_otlp_sent_and_dropped() -> None:
    fields = dict(paused=False, held=0, discarded=0, shown=1, total=1, marked=0, dropped=0)
    fields |= dict(evicted=0, workers=None, filter_text="", following=True)
    text = status_text(Status(**fields, otlp="OTLP 12 sent, 3 dropped (backend down)"))  # type: ignore[arg-type]
    assert "OTLP 12 sent, 3 dropped (backend down)" in text.plain
    assert "OTLP" not in status_text(Status(**fields)).plain  # type: ignore[arg-type]


def session(running: Traffic, path: Path) -> Path:
    headers = {"authorization": "Bearer s3cret"}
    httpx.post(f"{running.proxy_url}/items/9", content=b"body!", headers=headers)
    writer = SessionWriter(path)
    writer([ev.PeerConnected("", 0, exchange_id_prefix(), "web-1", 77, "shop")])
    writer(running.events(2))
    writer.close()
    return path


def test_export_sends_a_session_and_writes_otlp_json(
    running: Traffic, otlp: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = session(running, tmp_path / "s.jsonl")
    out = tmp_path / "spans.json"
    flags = ["--otlp-capture-headers", "authorization", "--otlp-bodies"]
    assert main(["export", str(saved), "--otlp", otlp.url, "--otlp-json", str(out), *flags]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"inspector export: 3 spans written to {out}",
        f"inspector export: 3 spans sent to {otlp.url}/v1/traces",
    ]
    sent = otlp.spans(3)
    servers = {s.resource["service.name"]: s for s in sent if s.span.kind == Span.SPAN_KIND_SERVER}
    assert set(servers) == {"inspect-proxy", "shop"}
    # Paired as the viewer pairs them: proxy SERVER -> its CLIENT call upstream -> app SERVER.
    (client,) = [s for s in sent if s.span.kind == Span.SPAN_KIND_CLIENT]
    assert client.span.parent_span_id == servers["inspect-proxy"].span.span_id
    assert servers["shop"].span.parent_span_id == client.span.span_id
    assert servers["shop"].span.trace_id == servers["inspect-proxy"].span.trace_id
    for span in servers.values():  # masked by default, as the other exports
        assert span.attributes["http.request.header.authorization"] == ["[redacted]"]
        assert span.attributes["http.request.body.content"] == "body!"
    assert os.stat(out).st_mode & 0o777 == 0o600
    document = json.loads(out.read_text())
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                assert len(span["traceId"]) == 32  # hex, as OTLP/JSON says
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    from_file = flatten(json_format.ParseDict(document, ExportTraceServiceRequest()))
    assert sorted(s.span.SerializeToString() for s in from_file) == sorted(
        s.span.SerializeToString() for s in sent
    )
    assert main(["export", str(saved), "--otlp-json", str(out), "--no-redact", *flags]) == 0
    assert "Bearer s3cret" in out.read_text()


def test_export_to_a_down_backend_fails_in_one_line(
    running: Traffic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = session(running, tmp_path / "s.jsonl")
    url = down_url()
    assert main(["export", str(saved), "--otlp", url]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"inspector export: cannot send spans to {url}/v1/traces: ")
    assert line.endswith("(0 of 3 spans sent)")


def test_a_flag_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("opentelemetry")] + ["opentelemetry"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    assert main(["export", "nowhere.jsonl", "--otlp", "http://127.0.0.1:4318"]) == 1
    assert capsys.readouterr().err == (
        "inspector export: --otlp needs the OpenTelemetry packages: pip install 'inspector[otlp]'\n"
    )


def test_the_base_install_never_imports_opentelemetry() -> None:
    code = (
        "import sys, inspector, tui.cli, tui.outputs, tui.observer, tui.otlp\n"
        "import contextlib, io\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    tui.cli.main(['listen', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'google'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout == "[]\n", out.stderr


def test_the_viewer_child_gets_the_flags_and_the_headers_off_its_command_line() -> None:
    args = options("http://c:4318", "--otlp-headers", "a=1,b=2", "--otlp-bodies")
    args.otlp_service = "edge"
    flags, env = child_flags(args)
    assert flags == ["--otlp", "http://c:4318", "--otlp-bodies", "--otlp-service", "edge"]
    assert env == {"INSPECTOR_OTLP_HEADERS": "a=1,b=2"}


def test_inspect_proxy_sends_spans_from_its_viewer_child(running: Traffic, otlp: Backend) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from tui.cli import proxy_main; raise SystemExit(proxy_main())",
    ]
    command += ["--upstream", f"127.0.0.1:{running.app_port}", "--listen", f"127.0.0.1:{port}"]
    command += ["--no-tui", "--otlp", otlp.url, "--otlp-headers", "x-token=abc"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proxy = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proxy.stderr is not None
        assert proxy.stderr.readline().startswith("inspect-proxy: http://127.0.0.1:")
        httpx.get(f"http://127.0.0.1:{port}/items/8")
        (span,) = [s for s in otlp.spans(1) if s.span.kind == Span.SPAN_KIND_SERVER]
    finally:
        proxy.terminate()
        proxy.wait(20)
        if proxy.stderr is not None:
            proxy.stderr.close()
    assert span.resource["service.name"] == "inspect-proxy"
    assert span.attributes["url.path"] == "/items/8"
    assert otlp.headers[0]["x-token"] == "abc"
