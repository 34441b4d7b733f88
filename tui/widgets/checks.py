"""The Checks pane: the spec checks' findings for one exchange, each with the rule's name, what
the rule says, what this exchange did and the spec section to read (see
`inspector.observe.checks`). Findings are cached on the exchange, so showing them again after
every batch costs a lookup; the pane redraws only when they change.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.observe.checks import RULES, Finding, findings
from inspector.observe.exchange import Exchange
from tui.widgets.cells import printable


def explain(found: tuple[Finding, ...]) -> RenderableType:
    if not found:
        return Text(f"No findings: {len(RULES)} rules checked this exchange.", style="green")
    lines: list[RenderableType] = [
        Text(f"⚠ {len(found)} finding{'s' * (len(found) != 1)}", style="bold yellow"),
        Text(),
    ]
    for finding in found:
        rule = finding.rule
        head = Text.assemble(("● ", "yellow"), (rule.name, "bold"), "  ", (rule.reference, "cyan"))
        lines += [
            head,
            Text("  " + rule.summary),
            Text("  seen: " + printable(finding.detail), style="dim"),
            Text(),
        ]
    return Group(*lines)


class ChecksPane(VerticalScroll):
    DEFAULT_CSS = """
    ChecksPane { padding: 1 1; }
    """

    def __init__(self, exchange: Exchange, *, id: str | None = None) -> None:
        super().__init__(Static(), id=id)
        self.exchange = exchange
        self._shown: tuple[Finding, ...] | None = None

    def on_mount(self) -> None:
        self.show(self.exchange)

    def show(self, exchange: Exchange) -> None:
        self.exchange = exchange
        found = findings(exchange)
        if found != self._shown:
            self._shown = found
            self.query_one(Static).update(explain(found))
