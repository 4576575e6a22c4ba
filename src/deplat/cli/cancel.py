"""`deplat cancel <run-id>`: cancel a run on its engine (EMR Serverless or local Spark)."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit

NAME = "cancel"


def command(
    tctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (`deplat status` lists them).")],
    output: OutputOpt = None,
) -> None:
    """Cancel a submitted or running run and wait until the engine says it stopped."""
    from deplat.runs import RunService

    ctx = context(tctx, output)
    state = RunService(ctx).cancel(run_id)
    emit(ctx, {"run_id": run_id, "state": state.state, "details": state.details},
         lambda: typer.echo(f"run {run_id}: {state.state}" + (f" ({state.details})" if state.details else "")))
