"""SVG snapshots of the views the screenshots show, from the same scenario and `open_view`.

Update after looking at the pictures: `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from tui.scenarios import paired, refused
from tui.screenshots import ACTIONS, SIZE, VIEWS, action_app, open_view, scenario_app, view_app


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clock columns in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("view", list(VIEWS))
def test_view(view: str, snap_compare: Callable[..., bool]) -> None:
    exchange_id, tab = VIEWS[view]
    before = partial(open_view, exchange_id=exchange_id, tab=tab)
    assert snap_compare(view_app(view), run_before=before, terminal_size=SIZE)


def test_paired_filter(snap_compare: Callable[..., bool]) -> None:
    """`~paired` keeps the proxy row that carries the app's exchange (⇄); the app's own row
    is never listed apart."""
    assert snap_compare(
        scenario_app(paired()), press=["f", *"~paired", "enter"], terminal_size=SIZE
    )


def test_check_filter(snap_compare: Callable[..., bool]) -> None:
    """`~check wsgi` keeps the exchanges a WSGI rule flagged, with their ⚠ badge."""
    assert snap_compare(
        view_app("checks"), press=["f", *"~check wsgi", "enter"], terminal_size=SIZE
    )


def test_filter_error_inline(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(
        scenario_app(), press=["f", *"~c 2xx & (~m GET", "enter"], terminal_size=SIZE
    )


@pytest.mark.parametrize("width", [80, 160])
def test_list_shares_the_width_by_content(width: int, snap_compare: Callable[..., bool]) -> None:
    """80 columns: the footer shows every key, Help and Quit first. 160: the Path column gives
    the error its cells (ConnectionRefusedError whole), the numbers stay on the right."""
    before = partial(open_view, exchange_id=None, tab="")
    assert snap_compare(scenario_app(refused()), run_before=before, terminal_size=(width, 26))


@pytest.mark.parametrize("view", list(ACTIONS))
def test_action_view(view: str, snap_compare: Callable[..., bool]) -> None:
    """The inject screen (a JSON message to the client, its mistake shown while typing) and
    the intercept screen holding two of a live connection's messages."""
    assert snap_compare(action_app(view), run_before=ACTIONS[view], terminal_size=SIZE)
