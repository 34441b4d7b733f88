"""The HTTP replay engine's names where the app imported them before the engine moved to
`inspector.observe.replay` (it needs no UI, and `inspector replay` uses it headless). The
viewer's replay actions now go through `tui.replaying.Replayer`; this module goes once the
app calls that instead."""

from __future__ import annotations

from inspector.observe.replay import replay, replay_warning, summary

__all__ = ["replay", "replay_warning", "summary"]
