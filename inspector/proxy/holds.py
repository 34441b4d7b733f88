"""What the relay holds for its viewer, and the rules that decide it (`Steering`).

One `Steering` per proxy (on `Shared`): the intercept rules the viewer armed (`messages`,
`requests`, `responses`, each an `inspector.matching.Rule` or None), the live WebSocket
tunnels by exchange id (for inject), and the holds by number. A hold belongs to a `Holder`
(one direction of a tunnel, or an HTTP connection) that knows how to forward, edit or drop
it; `Steering` numbers holds, records `HELD`/`RELEASED`, and runs each hold's timeout:
after `hold_timeout` seconds a hold is forwarded unchanged ("timed out"), so a forgotten
breakpoint never kills a connection. Timers come from a `schedule` function (the loop's
`call_later` in the relay, a fake in tests). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from inspector.events import now_ns
from inspector.matching import Rule
from inspector.records import HELD, RELEASED, Recorder


class ActionError(Exception):
    """A control request the relay cannot carry out; its message is the viewer's sentence."""


class Cancel(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Cancel]


class Holder(Protocol):
    def release(self, hold: int, action: str, change: dict[str, Any]) -> str:
        """Carry out `action` ("forward", "drop", "edit", or "timeout") on `hold`; returns
        what is recorded ("forwarded", "edited", "dropped", "timed out"); raises
        `ActionError` if it cannot (the hold stays)."""


class Steerable(Protocol):
    """A live WebSocket tunnel (`inspector.proxy.tunnel.Tunnel`), as steering sees it."""

    def steer(self) -> None: ...

    def inject(self, to: str, opcode: int, payload: bytes) -> None: ...

    def blind(self) -> bool:
        """Compressed with context takeover in a direction whose messages were not all
        inflated here since the start: their content cannot be read now."""
        ...


class _Hold:
    __slots__ = ("holder", "timer", "xid")

    def __init__(self, xid: str, holder: Holder, timer: Cancel | None) -> None:
        self.xid = xid
        self.holder = holder
        self.timer = timer


def _no_timers(delay: float, callback: Callable[[], None]) -> Cancel:
    raise RuntimeError("no timers: this proxy has not started")


class Steering:
    def __init__(self, recorder: Recorder, hold_timeout: float) -> None:
        self.record = recorder.record
        self.hold_timeout = hold_timeout
        self.schedule: Schedule = _no_timers
        self.messages: Rule | None = None
        self.requests: Rule | None = None
        self.responses: Rule | None = None
        self.tunnels: dict[str, Steerable] = {}
        self.holds: dict[int, _Hold] = {}
        self.count = 0

    def arm(self, messages: Rule | None, requests: Rule | None, responses: Rule | None) -> int:
        """Arms the rules; returns how many open WebSocket connections a `messages` rule
        cannot read the compressed messages of (see `Steerable.blind`)."""
        self.messages, self.requests, self.responses = messages, requests, responses
        if messages is None:
            return 0
        blind = 0
        for tunnel in list(self.tunnels.values()):
            tunnel.steer()
            blind += tunnel.blind()
        return blind

    def hold(
        self,
        holder: Holder,
        xid: str,
        what: str,
        sender: str,
        opcode: int,
        head: bytes,
        body: bytes,
        size: int,
        editable: str,
    ) -> int:
        """A new hold, recorded, with its timeout running."""
        self.count += 1
        number = self.count
        timer = self.schedule(self.hold_timeout, lambda: self._expire(number))
        self.holds[number] = _Hold(xid, holder, timer)
        self.record(HELD, xid, now_ns(), number, what, sender, opcode, head, body, size, editable)
        return number

    def release(self, number: int, action: str, change: dict[str, Any]) -> None:
        hold = self.holds.get(number)
        if hold is None:
            raise ActionError(
                f"hold {number} is not held any more (released, or its connection ended)"
            )
        done = hold.holder.release(number, action, change)
        self._released(number, done)

    def release_all(self, action: str) -> int:
        """Releases every hold it can; ActionError says how many could not be and why."""
        count, refused, why = 0, 0, ""
        for number in sorted(self.holds):
            if number in self.holds:  # releasing one may release others (a connection)
                try:
                    self.release(number, action, {})
                except ActionError as exc:
                    refused, why = refused + 1, str(exc)
                else:
                    count += 1
        if refused:
            raise ActionError(f"{refused} held could not be released so ({why})")
        return count

    def lost(self, number: int) -> None:
        """`number`'s connection died: it is gone, unsent."""
        if number in self.holds:
            self._released(number, "lost")

    def _released(self, number: int, action: str) -> None:
        hold = self.holds.pop(number)
        if hold.timer is not None:
            hold.timer.cancel()
        self.record(RELEASED, hold.xid, now_ns(), number, action)

    def _expire(self, number: int) -> None:
        hold = self.holds.get(number)
        if hold is not None:
            hold.timer = None
            self._released(number, hold.holder.release(number, "timeout", {}))
