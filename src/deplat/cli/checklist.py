"""`deplat checklist daily|weekly|monthly`: the maintenance checklist as checks that run."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

NAME = "checklist"

FrequencyArg = Annotated[str, typer.Argument(help="daily, weekly (includes daily) or monthly (all).")]


def command(tctx: typer.Context, frequency: FrequencyArg = "daily", output: OutputOpt = None) -> None:
    """Failed runs, DQ results, rejected rows, lake size, optimize due, dependency pins: what needs attention."""
    from deplat.checklist import run_checklist

    ctx = context(tctx, output)
    result = run_checklist(ctx, frequency)

    def render() -> None:
        table(f"{frequency} checklist ({result.env}): {len(result.attention)} need attention",
              ["check", "status", "detail", "what to do"],
              [[i.check, i.status, i.detail, i.action] for i in result.items])

    emit(ctx, result.to_dict(), render)
