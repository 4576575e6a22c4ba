"""`deplat logs <run-id>`: a run's driver log (stdout, or stderr with --stderr)."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import context

NAME = "logs"


def command(
    tctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (`deplat status` lists them).")],
    stderr: Annotated[bool, typer.Option("--stderr", help="The driver's stderr (tracebacks, Spark logs).")]
    = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
) -> None:
    """Show a run's driver log: CloudWatch Logs when configured, else the S3 stdout.gz/stderr.gz."""
    from deplat.runs import RunService

    ctx = context(tctx)
    for chunk in RunService(ctx).logs(run_id, "stderr" if stderr else "stdout", follow):
        typer.echo(chunk, nl=not chunk.endswith("\n") and not follow)
