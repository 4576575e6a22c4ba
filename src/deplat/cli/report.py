"""`deplat report`: the last runbook/run as one static HTML file (no network needed to view it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit
from deplat.report.data import DEFAULT_RULE

NAME = "report"


def command(
    tctx: typer.Context,
    run: Annotated[str | None, typer.Option("--run", help="Runbook id, batch id or run id. " + DEFAULT_RULE)
                   ] = None,
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False, help="The HTML file to write "
                                                            "(default .deplat/<env>/reports/<id>.html).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open it in the default browser.")] = False,
    output: OutputOpt = None,
) -> None:
    """Write the run report: timeline, steps, failures with their error, row counts and versions per
    table and layer, DQ results (gold.quality_results)."""
    from deplat.report import write_report

    ctx = context(tctx, output)
    result = write_report(ctx, run, out)
    if open_:
        import webbrowser

        webbrowser.open(result.path.as_uri())
    emit(ctx, result.to_dict(), lambda: typer.echo(
        f"{result.kind} {result.id} ({result.status}): {result.steps} steps, {result.tables} tables, "
        f"{result.failures} failures -> {result.path}" + (f"\nreported: {result.chosen}" if result.chosen else "")))
