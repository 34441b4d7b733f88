"""Generated source is laid out as `ruff format` leaves it: checked by ruff itself on literals
that fit, that must be exploded, that nest, and strings no line can hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from inspector.observe import pysource

VALUES = [
    {"items": [{"id": 1, "name": "hammer"}], "count": 1},
    {"items": [{"id": n, "name": f"item number {n}", "tags": ["a", "b"]} for n in range(4)]},
    "x" * 120,
    b"\x00\xff" * 60,
    ['say "hi"', "it's", "both ' and \"", 1e20, None, True, 2.5],
    {"wide": "日本語のテキスト" * 6, "nested": {"deep": [[1, 2], [3, 4]] * 10}},
]


def test_statements_and_calls_pass_ruff_format_check(tmp_path: Path) -> None:
    lines = ["def test_generated() -> None:"]
    for value in VALUES:
        lines += pysource.statement("assert response.json() == {}", value)
        lines += pysource.call("response = send", [("", "GET"), ("json", value)])
    module = tmp_path / "test_generated.py"
    module.write_text("\n".join(lines) + "\n")
    ruff = Path(sys.executable).parent / "ruff"
    check = subprocess.run([ruff, "format", "--check", "--diff", str(module)], capture_output=True)
    assert check.returncode == 0, check.stdout.decode()
    namespace: dict[str, object] = {}
    exec(
        compile(
            "\n".join(f"v{i} = {pysource.literal(v)}" for i, v in enumerate(VALUES)), "x", "exec"
        ),
        namespace,
    )
    assert [namespace[f"v{i}"] for i in range(len(VALUES))] == VALUES


def test_strings_take_the_quotes_with_fewest_escapes() -> None:
    assert pysource.string("plain") == '"plain"'
    assert pysource.string('say "hi"') == "'say \"hi\"'"
    assert pysource.string("it's") == '"it\'s"'
    assert pysource.string(b"\x00") == 'b"\\x00"'
