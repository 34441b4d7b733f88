"""`inspector export --pytest`, end to end: real traffic through real servers, captured by the
middlewares into a real `inspector listen --save`, exported as a pytest module that is run
by pytest in a subprocess: it passes against the app that answered, and fails once the app
answers differently (`TRAFFIC_CHANGED=1`, see tests/apps/traffic_*.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.servers import ROOT, listen, saved_exchange, serve

RUFF = Path(sys.executable).parent / "ruff"


def _capture_asgi(directory: Path) -> Path:
    with (
        listen(directory) as listener,
        serve(
            "uvicorn", "tests.apps.traffic_asgi:wrapped", directory, {"INSPECTOR_BUS": listener.bus}
        ) as server,
    ):
        with httpx.Client(base_url=server.url) as client:
            client.get("/api/items?n=1", headers={"authorization": "Bearer s3cret"})
            client.post("/api/items?n=2", json={"id": 5, "name": "saw"})
            client.post("/login?n=3", data={"user": "ada"})
            client.get("/page?n=4&name=bob")
        with connect(f"ws://127.0.0.1:{server.port}/ws/echo?n=5") as websocket:
            websocket.send("hi")
            websocket.recv(timeout=10)
            websocket.send('{"a": [1, 2]}')
            websocket.recv(timeout=10)
            websocket.send("bye")
            with pytest.raises(Exception, match="1000"):
                websocket.recv(timeout=10)
        for n in range(1, 6):
            saved_exchange(listener.session, f"n={n}")
    return listener.session


def _capture_wsgi(directory: Path) -> Path:
    with (
        listen(directory) as listener,
        serve(
            "gunicorn",
            "tests.apps.traffic_wsgi:wrapped",
            directory,
            {"INSPECTOR_BUS": listener.bus},
        ) as server,
    ):
        with httpx.Client(base_url=server.url) as client:
            client.get("/api/users?n=1")
            client.post("/api/users?n=2", data={"name": "Bo"})
            client.get("/robots.txt?n=3")
            client.get("/missing?n=4")
        for n in range(1, 5):
            saved_exchange(listener.session, f"n={n}")
    return listener.session


@pytest.fixture(scope="module")
def asgi_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _capture_asgi(tmp_path_factory.mktemp("asgi"))


@pytest.fixture(scope="module")
def wsgi_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _capture_wsgi(tmp_path_factory.mktemp("wsgi"))


def export(session: Path, out: Path, *flags: str) -> str:
    """Run `inspector export --pytest`; the module written, checked by `ruff format`."""
    argv = [sys.executable, "-m", "tui", "export", str(session), "--pytest", str(out), *flags]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr
    check = subprocess.run([RUFF, "format", "--check", "--diff", str(out)], capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    return out.read_text()


def run_tests(module: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on the generated module alone, in a subprocess, with a configuration of its own
    (not this project's)."""
    (module.parent / "pytest.ini").write_text("[pytest]\n")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)]
    return subprocess.run(
        argv, cwd=module.parent, capture_output=True, text=True, env=_env(**env), timeout=120
    )


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def test_an_asgi_apps_traffic_passes_in_process_and_fails_once_it_changes(
    asgi_session: Path, tmp_path: Path
) -> None:
    module = tmp_path / "test_captured.py"
    text = export(asgi_session, module, "--app", "tests.apps.traffic_asgi:app")
    assert "httpx.ASGITransport(app=app)" in text
    assert "from tests.apps.traffic_asgi import app" in text
    for name in ("get_api_items_200", "post_api_items_201", "post_login_303", "get_page_200"):
        assert f"def test_{name}() -> None:" in text
    assert "def test_websocket_ws_echo() -> None:" in text
    assert 'assert response.json() == {"items": [{"id": 1, "name": "hammer"}], "count": 1}' in text
    assert 'assert set_cookie_names(response) == ["session", "theme"]' in text
    assert "s3cret" not in text
    assert "# Header authorization left out: a secret, masked by the export." in text

    passed = run_tests(module)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "5 passed" in passed.stdout

    failed = run_tests(module, TRAFFIC_CHANGED="1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "3 failed, 2 passed" in failed.stdout
    for name in ("get_api_items_200", "get_page_200", "websocket_ws_echo"):
        assert f"FAILED test_captured.py::test_{name}" in failed.stdout


def test_a_wsgi_apps_traffic_passes_in_process_and_fails_once_it_changes(
    wsgi_session: Path, tmp_path: Path
) -> None:
    module = tmp_path / "test_captured.py"
    text = export(wsgi_session, module, "--app", "tests.apps.traffic_wsgi:app")
    assert "httpx.WSGITransport(app=app)" in text
    assert 'data={"name": "Bo"}' in text
    assert 'assert response.text == "not found"' in text

    passed = run_tests(module)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "4 passed" in passed.stdout

    failed = run_tests(module, TRAFFIC_CHANGED="1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "2 failed, 2 passed" in failed.stdout
    assert "FAILED test_captured.py::test_get_api_users_200" in failed.stdout
    assert "FAILED test_captured.py::test_get_robots_txt_200" in failed.stdout


def test_without_an_app_the_tests_go_to_base_url_over_http_and_websocket(
    asgi_session: Path, tmp_path: Path
) -> None:
    module = tmp_path / "test_captured.py"
    text = export(asgi_session, module)
    assert 'BASE_URL = os.environ.get("INSPECTOR_BASE_URL", "http://127.0.0.1:' in text
    assert "websockets.sync.client.connect(" in text
    with serve("uvicorn", "tests.apps.traffic_asgi:app", tmp_path) as server:
        passed = run_tests(module, INSPECTOR_BASE_URL=server.url)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "5 passed" in passed.stdout
    changed = {"TRAFFIC_CHANGED": "1"}
    with serve("uvicorn", "tests.apps.traffic_asgi:app", tmp_path, changed) as server:
        failed = run_tests(module, INSPECTOR_BASE_URL=server.url)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "3 failed, 2 passed" in failed.stdout
    assert "FAILED test_captured.py::test_websocket_ws_echo" in failed.stdout


def test_a_wrong_app_writes_nothing_and_says_why(asgi_session: Path, tmp_path: Path) -> None:
    out = tmp_path / "test_captured.py"
    for app, said in (
        ("tests.apps.traffic_asgi", "--app takes module:attr"),
        ("tests.apps.nowhere:app", "cannot import tests.apps.nowhere: ModuleNotFoundError"),
        ("tests.apps.traffic_asgi:nothing", "has no attribute 'nothing'"),
    ):
        argv = [sys.executable, "-m", "tui", "export", str(asgi_session), "--pytest", str(out)]
        done = subprocess.run([*argv, "--app", app], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 1
        assert said in done.stderr
        assert not out.exists()
