"""`deplat backfill <pipeline> --from D1 --to D2`: one partition run per date, a few at once, resumable."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

NAME = "backfill"


def command(
    tctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="A pipeline whose steps take --partition-date, e.g. fx.")],
    date_from: Annotated[str, typer.Option("--from", help="First date, YYYY-MM-DD (included).")],
    date_to: Annotated[str, typer.Option("--to", help="Last date, YYYY-MM-DD (included).")],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Dates running at once.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Skip the dates an earlier backfill of this "
                                         "range finished with the deployed code.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Start no more dates after a failure.")] = False,
    output: OutputOpt = None,
) -> None:
    """Run a pipeline once per date from --from to --to (idempotent per date, like `dr reprocess`);
    live progress on stderr, a summary table; exit 4 if a date failed (the others still ran)."""
    from deplat.backfill import BackfillService, raise_for_failures

    ctx = context(tctx, output)
    result = BackfillService(ctx).run(pipeline, date_from, date_to, concurrency=concurrency, resume=resume,
                                      fail_fast=fail_fast)

    def render() -> None:
        table(f"backfill {result.pipeline} {result.date_from}..{result.date_to} ({result.env}, "
              f"manifest {result.manifest_hash[:12]}, {result.elapsed_s:.0f}s)",
              ["date", "state", "duration", "written", "run id", "error"],
              [[d.date, d.state, f"{d.duration_s:.0f}s" if d.duration_s is not None else "",
                sum(int(m.get("written") or 0) for m in d.metrics) if d.metrics else "",
                d.run_ids[-1] if d.run_ids else "", d.error or ""] for d in result.dates])

    emit(ctx, result.to_dict(), render)
    raise_for_failures(result)
