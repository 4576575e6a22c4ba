"""`deplat status`: the application's state and the recent runs."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

NAME = "status"


def command(
    tctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
    output: OutputOpt = None,
) -> None:
    """Application state and recent runs (pipeline, step, state, duration, run id)."""
    from deplat.runs import RunService

    ctx = context(tctx, output)
    result = RunService(ctx).status(limit=limit)

    def render() -> None:
        app = result.application
        typer.echo(f"{result.env}: application {app.get('id')} ({app.get('name') or ''}) {app.get('state')}"
                   + (f" — {app['error']}" if app.get("error") else ""))
        table("recent runs", ["run id", "pipeline", "step", "state", "submitted", "duration"],
              [[r["run_id"], r.get("pipeline"), r.get("step"), r.get("state"), r.get("submitted_at"),
                f"{r['duration_s']:.0f}s" if r.get("duration_s") is not None else ""] for r in result.runs])

    emit(ctx, result.to_dict(), render)
