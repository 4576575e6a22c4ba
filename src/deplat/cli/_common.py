"""Shared CLI plumbing: the per-command Context, output rendering, not-yet-built commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deplat_job.errors import NotBuiltError

if TYPE_CHECKING:
    from deplat.core.context import Context


class Output(str, Enum):
    text = "text"
    json = "json"


OutputOpt = Annotated[
    Output | None,
    typer.Option("--output", "-o", help="text (tables) or json (stdout, for jq).", show_default=False),
]
def finite(value: float | None) -> float | None:
    """Option callback for every float flag: NaN and +-infinity pass any range check (nan < 168 is
    False), so they are refused here, at parse time (exit 2 naming the flag), not in a job."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]


def context(tctx: typer.Context, output: Output | None = None) -> Context:
    """The deplat Context for this invocation (built once, lazily)."""
    from deplat.core.console import RichReporter
    from deplat.core.context import Context

    root = tctx.find_root()
    state = root.obj if isinstance(root.obj, dict) else {}
    if output is not None:
        state["output"] = output.value
    if "context" not in state:
        fmt = state.get("output", "text")
        state["context"] = Context(
            env_name=state.get("env"),
            reporter=RichReporter(),
            output=fmt,
            debug=state.get("debug", False),
        )
        root.obj = state
    ctx = state["context"]
    ctx.output_format = state.get("output", ctx.output_format)
    return ctx


def emit(ctx: Context, data: Any, text: Callable[[], None] | None = None) -> None:
    """JSON on stdout with -o json; otherwise the text renderer (or a plain print)."""
    if ctx.output_format == "json":
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif text is not None:
        text()
    else:
        typer.echo(data)


def table(title: str | None, columns: list[str], rows: list[list[Any]], null: str = "") -> None:
    """A Rich table on stdout, the one table renderer: title, headers and cells print literally.
    Nothing is cut off in a narrow terminal or a pipe: identifiers (columns named "... id", "name")
    keep their full width on one line, other cells wrap. None cells show as `null`; a rich Text cell
    keeps its style."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from deplat.core.console import literal

    # Titles, headers and cells are literal text, never Rich markup (console.literal); a styled cell
    # is a Text the command built with console.literal(value, style).
    cells = [[null if v is None else v if isinstance(v, Text) else str(v) for v in row] for row in rows]
    t = Table(title=literal(title) if title else None, title_justify="left")
    for i, col in enumerate(columns):
        if col.endswith("id") or col == "name":
            width = max([len(col), *(len(r[i]) for r in cells)])
            t.add_column(literal(col), no_wrap=True, min_width=width)
        else:
            t.add_column(literal(col), overflow="fold")
    for row in cells:
        t.add_row(*(literal(c) for c in row))
    Console(highlight=False, emoji=False).print(t)


def not_built(what: str, issue: str | None = None) -> None:
    raise NotBuiltError(
        f"`deplat {what}` is not built yet",
        f"tracked in {issue}" if issue else "it lands in a later release; see the README command map",
    )
