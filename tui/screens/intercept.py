"""The intercept screen: filters that make the proxy hold traffic, and what it holds now.

Three inputs take a filter each in the `~` language (messages, requests, responses), checked
while typing with `compile_rule` (the error and its position under the input); enter or
ctrl+s posts `InterceptSubmitted` (an empty input holds nothing of its kind), `n` (or the
Disarm button) posts one that holds nothing. The list below shows every hold of every
exchange, kept current by the app (`show_holds`); on it, `f` forwards, `d` drops, `e` edits
(in `HoldEditScreen`) and `F`/`D` forward or drop them all, each posted as a message that
the app sends to the relay. A hold that cannot be edited says why and offers forwarding it,
or injecting a changed copy instead (a WebSocket message).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from inspector.observe.filters import FilterError
from inspector.observe.rules import Kind, compile_rule
from tui.screens.hold_edit import Edited, HoldEditScreen, NotEditableScreen
from tui.screens.inject import TEXT, InjectRequested, towards
from tui.widgets.filter_bar import error_text
from tui.widgets.footer import KeyFooter
from tui.widgets.holds import Held, HoldList, hold_detail
from tui.widgets.virtual_list import VirtualList

KINDS: tuple[Kind, ...] = ("messages", "requests", "responses")
Filters = tuple[str | None, str | None, str | None]
"""The messages, requests and responses filters; None holds nothing of that kind."""
_PLACEHOLDERS = {
    "messages": "~from client & ~b order   (~text ~binary ~size >1k ~bq ~bs; empty: none)",
    "requests": "~m POST & ~u /api   (~h ~b ~t; empty: none)",
    "responses": "~c 5xx | ~bs error   (~m ~u ~hs ~ts; empty: none)",
}


class InterceptRequested(Message):
    """The user asked for the intercept screen (`I`); the app opens it or says why not."""


class InterceptSubmitted(Message):
    """Hold what these filters match from now on (all None: hold nothing)."""

    def __init__(self, filters: Filters) -> None:
        super().__init__()
        self.filters = filters


class ReleaseRequested(Message):
    """Let hold `hold` go: forwarded as it was, dropped, or forwarded as `edited`."""

    def __init__(
        self, held: Held, action: Literal["forward", "drop", "edit"], edited: Edited | None = None
    ) -> None:
        super().__init__()
        self.held = held
        self.action: Literal["forward", "drop", "edit"] = action
        self.edited = edited


class ReleaseAllRequested(Message):
    def __init__(self, action: Literal["forward", "drop"]) -> None:
        super().__init__()
        self.action: Literal["forward", "drop"] = action


class InterceptScreen(Screen[None]):
    DEFAULT_CSS = """
    InterceptScreen { layout: vertical; }
    InterceptScreen #intercept-title { height: 1; background: $panel; padding: 0 1; }
    InterceptScreen #filters { height: auto; padding: 1 1 0 1; }
    InterceptScreen .filter { height: 1; }
    InterceptScreen .filter Label { width: 11; color: $text-muted; }
    InterceptScreen Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    InterceptScreen Input:focus { border: none; }
    InterceptScreen .error { padding: 0 0 0 12; height: auto; display: none; }
    InterceptScreen .error.-shown { display: block; }
    InterceptScreen #arming { height: auto; margin: 1 1 0 1; }
    InterceptScreen #arming Button { margin-right: 2; }
    InterceptScreen HoldList { height: 1fr; border-top: solid $primary-darken-2; }
    InterceptScreen VerticalScroll { height: 1fr; border-top: solid $primary-darken-2; }
    InterceptScreen #hold-detail { padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+s", "arm", "Arm", priority=True),
        Binding("n", "disarm", "Disarm"),
        Binding("f", "release('forward')", "Forward"),
        Binding("d", "release('drop')", "Drop"),
        Binding("e", "edit", "Edit"),
        Binding("F", "release_all('forward')", "Forward all"),
        Binding("D", "release_all('drop')", "Drop all"),
    ]

    def __init__(self, filters: Filters, holds: list[Held]) -> None:
        """`filters`: those armed now (to show and change); `holds`: what is held now."""
        super().__init__()
        self.filters = filters
        self.holds = HoldList(id="holds")
        self._initial = holds

    def compose(self) -> ComposeResult:
        yield Static(id="intercept-title")
        with Vertical(id="filters"):
            for kind, text in zip(KINDS, self.filters, strict=True):
                with Horizontal(classes="filter"):
                    yield Label(kind)
                    yield Input(text or "", placeholder=_PLACEHOLDERS[kind], id=kind)
                yield Static(classes="error", id=f"{kind}-error")
        with Horizontal(id="arming"):
            yield Button("Arm (enter, ctrl+s)", variant="warning", id="arm")
            yield Button("Disarm (n)", id="disarm")
        yield self.holds
        with VerticalScroll():
            yield Static(id="hold-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.show_holds(self._initial)
        self.armed(self.filters)
        if self.holds.rows:
            self.holds.focus()
        else:
            self.query_one("#messages", Input).focus()

    # -- what the app tells it ------------------------------------------------------------------

    def armed(self, filters: Filters) -> None:
        """The relay holds what `filters` match now."""
        self.filters = filters
        title = Text.assemble((" Intercept ", "bold reverse yellow"), " ")
        terms = [f"{kind} {text}" for kind, text in zip(KINDS, filters, strict=True) if text]
        if terms:
            title.append("holding " + " · ".join(terms), "yellow")
        else:
            title.append("off: nothing is held", "dim")
        title.append(f"   {len(self.holds.rows)} held", "bold" if self.holds.rows else "dim")
        self.query_one("#intercept-title", Static).update(title)

    def show_holds(self, holds: list[Held]) -> None:
        keep = self.holds.current
        if keep is not None:  # the same hold, even as a new event object
            keep = next((h for h in holds if h[1].hold == keep[1].hold), None)
        self.holds.set_rows(holds, keep=keep)
        self.armed(self.filters)
        self._detail()

    def _detail(self) -> None:
        self.query_one("#hold-detail", Static).update(hold_detail(self.holds.current))

    def on_virtual_list_cursor_moved(self, event: VirtualList.CursorMoved) -> None:
        event.stop()
        self._detail()

    def on_virtual_list_selected(self, event: VirtualList.Selected) -> None:
        event.stop()
        self._detail()

    # -- filters --------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._compiled(event.input)

    def _compiled(self, field: Input) -> bool:
        """Whether `field` holds a filter that compiles; its error shown under it if not."""
        kind = next(k for k in KINDS if k == field.id)
        error = self.query_one(f"#{kind}-error", Static)
        try:
            compile_rule(field.value, kind)
        except FilterError as exc:
            error.update(error_text(field.value, exc))
            error.add_class("-shown")
            return False
        error.remove_class("-shown")
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_arm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "arm":
            self.action_arm()
        elif event.button.id == "disarm":
            self.action_disarm()

    def action_arm(self) -> None:
        fields = [self.query_one(f"#{kind}", Input) for kind in KINDS]
        if not all([self._compiled(field) for field in fields]):  # every error shown at once
            self.notify("not armed: a filter has a mistake", severity="warning")
            return
        texts = [field.value.strip() or None for field in fields]
        self.post_message(InterceptSubmitted((texts[0], texts[1], texts[2])))
        self.holds.focus()  # where f, d and e act on what gets held

    def action_disarm(self) -> None:
        self.post_message(InterceptSubmitted((None, None, None)))

    # -- holds ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("release", "edit", "release_all"):
            return bool(self.holds.rows)
        return True

    def action_release(self, action: Literal["forward", "drop"]) -> None:
        held = self.holds.target()
        if held is not None:
            self.post_message(ReleaseRequested(held, action))

    def action_release_all(self, action: Literal["forward", "drop"]) -> None:
        if self.holds.rows:
            self.post_message(ReleaseAllRequested(action))

    def action_edit(self) -> None:
        held = self.holds.target()
        if held is None:
            return
        exchange, hold = held
        if not hold.editable:
            self.app.push_screen(HoldEditScreen(hold), lambda edited: self._edited(held, edited))
            return

        def chosen(choice: str | None) -> None:
            if choice == "forward":
                self.post_message(ReleaseRequested(held, "forward"))
            elif choice == "inject":
                typed = hold.body.decode("utf-8", "replace") if hold.opcode == TEXT else ""
                self.post_message(InjectRequested(exchange, to=towards(hold.sender), typed=typed))

        self.app.push_screen(NotEditableScreen(hold), chosen)

    def _edited(self, held: Held, edited: Edited | None) -> None:
        if edited is not None:
            self.post_message(ReleaseRequested(held, "edit", edited))
