"""Python source for generated modules: literals and statements laid out as `ruff format` (and
black) would lay them out, so a generated file passes `ruff format --check` as written.

The rules are the formatter's: a literal that fits on its line stays on one line; one that
does not is exploded, an element a line, with a trailing comma (the "magic trailing comma",
which keeps it exploded); strings keep double quotes unless that needs more escapes. A string
too long for any line is left long, as the formatter leaves it. `statement` binds a literal
that cannot follow its statement on one line to a name first (`expected = ...`), the one
layout the formatter never rewrites. Line width is counted in terminal cells, as ruff does.
"""

from __future__ import annotations

import unicodedata
from typing import Any

LINE = 88
"""ruff's and black's default line length: a project without configuration checks this."""
INDENT = "    "


def width(text: str) -> int:
    """Terminal cells: East Asian wide and full-width characters take two, combining marks
    none (ruff measures lines so)."""
    cells = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        cells += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return cells


def string(value: str | bytes) -> str:
    """A str or bytes literal in the formatter's quotes: double, unless the value holds more
    double quotes than single ones (the fewest escapes win)."""
    prefix = "b" if isinstance(value, bytes) else ""
    body = repr(value)[len(prefix) :]
    inner = body[1:-1]
    if body[0] == '"':  # repr chose double quotes: the value holds ' and no "
        return prefix + body
    # repr chose single quotes, escaping any ' inside; count what each choice escapes.
    singles = inner.count("\\'")
    doubles = inner.count('"')
    if doubles > singles:
        return prefix + body
    inner = inner.replace("\\'", "'").replace('"', '\\"')
    return f'{prefix}"{inner}"'


def literal(value: Any, indent: int = 0, used: int = 0) -> str:
    """`value` (None, bool, int, float, str, bytes, list, tuple, dict of them) as source: on
    one line if `used` cells already on the line plus it fit, else exploded at `indent`
    levels. Lines after the first start with their own indentation."""
    flat = _flat(value)
    if used + width(flat) <= LINE or not isinstance(value, (list, tuple, dict)) or not value:
        return flat
    inner = INDENT * (indent + 1)
    lines = []
    if isinstance(value, dict):
        open_, close = "{", "}"
        for key, item in value.items():
            head = f"{_flat(key)}: "
            lines.append(inner + head + literal(item, indent + 1, width(inner + head) + 1) + ",")
    else:
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        for item in value:
            lines.append(inner + literal(item, indent + 1, width(inner) + 1) + ",")
    return "\n".join([open_, *lines, INDENT * indent + close])


def _flat(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        return string(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # ruff writes exponents without "+" (1e20, not 1e+20); JSON has no inf or nan.
        return repr(value).replace("e+", "e")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [_flat(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    raise TypeError(f"no literal for {type(value).__name__}")


def statement(template: str, value: Any, indent: int = 1, name: str = "expected") -> list[str]:
    """Lines for `template` (holding one `{}`) with `value` in it: one line when it fits,
    else `name = value` first and `template` with `name` in it."""
    pad = INDENT * indent
    one = pad + template.format(_flat(value))
    if width(one) <= LINE:
        return [one]
    head = f"{pad}{name} = "
    return [head + literal(value, indent, width(head)), pad + template.format(name)]


def call(head: str, arguments: list[tuple[str, Any]], indent: int = 1) -> list[str]:
    """`head(arguments)` (positional where the name is "", else keyword), on one line when it
    fits, else an argument a line with a trailing comma."""
    pad = INDENT * indent
    parts = [f"{k}={_flat(v)}" if k else _flat(v) for k, v in arguments]
    one = f"{pad}{head}({', '.join(parts)})"
    if width(one) <= LINE:
        return [one]
    inner = pad + INDENT
    lines = [f"{pad}{head}("]
    for key, value in arguments:
        start = f"{inner}{key}=" if key else inner
        lines.append(start + literal(value, indent + 1, width(start) + 1) + ",")
    lines.append(pad + ")")
    return lines
