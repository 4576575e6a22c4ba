"""`deplat logs <run-id>`: a run's driver log (stdout, or stderr with --stderr)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context

NAME = "logs"


def command(
    tctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (`deplat status` lists them).")],
    stderr: Annotated[bool, typer.Option("--stderr", help="The driver's stderr (tracebacks, Spark logs).")]
    = False,
    follow: Annotated[bool | None, typer.Option(
        "--follow/--no-follow", "-f",
        help="Keep printing until the run ends (default: follow a run that is still going).",
        show_default=False)] = None,
    output: OutputOpt = None,
) -> None:
    """Show a run's driver log: CloudWatch Logs when configured, else the S3 stdout.gz/stderr.gz.

    The run's state goes to stderr; with -o json, stdout carries one JSON object per log line.
    """
    from deplat.runs import RunService

    ctx = context(tctx, output)
    service = RunService(ctx)
    stream = "stderr" if stderr else "stdout"
    view = service.logs(run_id, stream, follow)
    note = "following until it ends (Ctrl-C stops following; the run goes on)" if view.following else ""
    ctx.reporter.info(f"run {run_id}: {view.state.state}" + (f" ({view.state.details})" if view.state.details
                                                            else "") + (f"; {note}" if note else ""))
    as_json = ctx.output_format == "json"
    for chunk in view.chunks:
        if as_json:
            for line in chunk.splitlines():
                sys.stdout.write(json.dumps({"run_id": run_id, "stream": stream, "line": line}) + "\n")
        else:
            sys.stdout.write(chunk if chunk.endswith("\n") or not chunk else chunk + "\n")
        sys.stdout.flush()
    final = service.state(run_id) if view.following else view.state
    if view.following:
        ctx.reporter.info(f"run {run_id}: {final.state}")
    if final.state == "FAILED" and stream == "stdout":
        ctx.reporter.warn(f"run {run_id} FAILED: its error is in the driver's stderr: "
                          f"`deplat logs {run_id} --stderr`")
