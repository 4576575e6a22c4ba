"""`deplat run <pipeline>`: run a named pipeline's steps on EMR Serverless or local Spark."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, YesOpt, context, emit, finite, table
from deplat.registry import pipeline_names

NAME = "run"


PipelineArg = Annotated[str, typer.Argument(help=", ".join(pipeline_names()) + ".")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for each step (steps run in order).")]
TimeoutOpt = Annotated[float | None, typer.Option(
    help="Seconds for the whole pipeline; a step still running then is cancelled.", callback=finite)]
FollowOpt = Annotated[bool, typer.Option("--follow", "-f", help="Stream the driver's stdout while waiting.")]
StepOpt = Annotated[str | None, typer.Option(help="Run only this step of the pipeline.")]
PartitionOpt = Annotated[str | None, typer.Option(help="YYYY-MM-DD: (re)process one partition.")]
SkipDqOpt = Annotated[bool, typer.Option("--skip-dq", help="Skip the DQ gate before gold (loud; recorded in "
                                         "the run history).")]


def command(
    tctx: typer.Context,
    pipeline: PipelineArg,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = None,
    follow: FollowOpt = False,
    step: StepOpt = None,
    partition_date: PartitionOpt = None,
    skip_dq: SkipDqOpt = False,
    yes: YesOpt = False,
    output: OutputOpt = None,
) -> None:
    """Run a pipeline from the deployed artifacts; exit 4 if a step fails (its error is shown).

    Ctrl-C while waiting cancels the running step (after confirming, unless --yes).
    """
    from deplat.services import run_service

    ctx = context(tctx, output)

    def confirm(ref) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return typer.confirm(f"\nCancel run {ref.run_id} ({ref.pipeline}/{ref.step})?", default=True)

    result = run_service(ctx, confirm_cancel=confirm).run(
        pipeline, step=step, partition_date=partition_date, wait=wait, timeout=timeout, follow=follow,
        skip_gates=skip_dq)

    def render() -> None:
        from deplat.core.cost import cost_cell

        table(f"run {result.pipeline} ({result.env}, batch {result.batch_id})",
              ["step", "run id", "state", "duration", "cost", "note"],
              [[s.step, s.run_id, s.state, f"{s.duration_s:.0f}s" if s.duration_s is not None else "",
                cost_cell(s.cost), "attached to a live run" if s.attached else ""] for s in result.steps])
        priced = [s.cost["price_usd"] for s in result.steps if s.cost and s.cost.get("price_usd") is not None]
        if priced:
            typer.echo(f"billed: ${sum(priced):.4f} for {len(priced)} run(s) (EMR Serverless on-demand prices, "
                       f"{result.env})")
        if result.metrics:
            # read = written + rejected + skipped: each counted by the job on its own. late_rows (of
            # written): Salesforce records its late-row check found past the lookback.
            cols = ["step", "read", "written", "rejected", "skipped"] + (
                ["late_rows"] if any("late_rows" in m for m in result.metrics) else []) + (
                ["note"] if any(m.get("note") for m in result.metrics) else [])
            table("metrics", cols, [[m.get(c, "") for c in cols] for m in result.metrics])
        if not result.waited:
            typer.echo(f"not waiting: `deplat status`, `deplat logs {result.steps[0].run_id} --follow`")

    emit(ctx, result.to_dict(), render)
