"""Snapshots: JSON-safe, bounded, and safe to read from two threads."""

from __future__ import annotations

import json
import threading

from inspector.events import Snapshot, json_safe


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def test_json_safe_turns_anything_into_json() -> None:
    value = {
        "bytes": b"\xff/path",
        "tuple": (1, "two", None),
        3: "an int key",
        Hostile(): "a hostile key",
        "nested": {"a": {"b": {"c": {"d": {"e": "deep"}}}}},
        "object": Hostile(),
    }
    safe = json_safe(value)
    assert json.loads(json.dumps(safe)) == safe
    assert isinstance(safe, dict)
    assert safe["bytes"] == "\xff/path"
    assert safe["tuple"] == [1, "two", None]
    assert safe["3"] == "an int key"
    assert safe["object"] == "<unrepresentable Hostile: RuntimeError('no repr for you')>"
    assert "<unrepresentable Hostile" in next(k for k in safe if k.startswith("<"))


def test_json_safe_is_bounded() -> None:
    big = {f"k{n}": n for n in range(300_000)}  # lifespan state copied into every scope
    safe = json_safe({"state": big, "list": list(range(1000)), "text": "x" * 50_000})
    assert isinstance(safe, dict)
    assert len(safe["state"]) == 101  # type: ignore[arg-type]
    assert safe["state"]["…"] == "299900 more"  # type: ignore[call-overload, index]
    assert safe["list"][-1] == "… 900 more"  # type: ignore[index]
    assert len(safe["text"]) == 10_000  # type: ignore[arg-type]


def read_together(snapshot: Snapshot, readers: int = 4) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    threads = [threading.Thread(target=lambda: seen.append(dict(snapshot))) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def test_a_snapshot_read_from_two_threads_gives_one_answer() -> None:
    for _ in range(200):
        snapshot = Snapshot({"type": "http", "headers": [(b"a", b"b")]}, omit="headers".__eq__)
        assert read_together(snapshot) == [{"type": "http"}] * 4
