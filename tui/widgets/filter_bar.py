"""The filter bar: an input for a filter expression, its inline error, and the active filter.

Enter compiles the expression (`inspector.observe.filters.compile_filter`); a mistake shows its
message and points at the position, and the list keeps its current filter. Escape clears the
filter and closes the bar. The bar posts `FilterBar.Changed` with the compiled filter (or None).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from inspector.observe.filters import Filter, FilterError, compile_filter

PLACEHOLDER = "~c 5xx | ~m POST & ~u api   (enter applies, escape clears; ? for help)"


def error_text(text: str, error: FilterError) -> Text:
    """The message, then the expression with the offending character highlighted."""
    position = min(max(error.position, 0), len(text))
    line = Text.assemble(("✗ ", "bold red"), (error.message, "red"))
    line.append("   ")
    line.append(text[:position])
    line.append(text[position : position + 1] or " ", style="reverse bold red")
    line.append(text[position + 1 :])
    return line


class FilterBar(Vertical):
    DEFAULT_CSS = """
    FilterBar { height: auto; display: none; background: $panel; }
    FilterBar.-open { display: block; }
    FilterBar > Input { border: none; height: 1; padding: 0 1; background: $panel; }
    FilterBar > Input:focus { border: none; }
    FilterBar > .error { padding: 0 1; height: auto; display: none; }
    FilterBar > .error.-shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear", "Clear filter")]

    class Changed(Message):
        def __init__(self, predicate: Filter | None) -> None:
            super().__init__()
            self.predicate = predicate

    class Closed(Message):
        pass

    def __init__(self) -> None:
        super().__init__()
        self.active: Filter | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder=PLACEHOLDER)
        yield Static(classes="error")

    def open(self) -> None:
        self.add_class("-open")
        self.query_one(Input).focus()

    def close(self) -> None:
        self.remove_class("-open")
        self._show_error(None)
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply(event.value)

    def apply(self, text: str) -> bool:
        """Compile and apply `text`; False (and the error shown) if it does not compile."""
        try:
            predicate = compile_filter(text)
        except FilterError as error:
            self._show_error(error_text(text, error))
            return False
        self.active = predicate if text.strip() else None
        self.post_message(self.Changed(self.active))
        self.close()
        return True

    def action_clear(self) -> None:
        self.query_one(Input).value = ""
        if self.active is not None:
            self.active = None
            self.post_message(self.Changed(None))
        self.close()

    def _show_error(self, text: Text | None) -> None:
        error = self.query_one(".error", Static)
        error.update(text or "")
        error.set_class(text is not None, "-shown")
