"""`deplat runbook`: the whole runbook (local stack, infra, sources, deploy, pipelines with DQ gates,
catalog, Lake Formation, maintenance, a sample query) as one resumable command."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context
from deplat.runbook import RUNBOOK_STEPS

if TYPE_CHECKING:
    from deplat.core.context import Context

NAME = "runbook"

FromOpt = Annotated[str | None, typer.Option("--from", help="Start at this step (earlier ones are skipped).")]
OnlyOpt = Annotated[list[str] | None, typer.Option(
    "--only", help="Run only these steps (repeat the flag or comma-separate).", show_default=False)]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the last runbook from the step that "
                                                           "failed (same selection of steps).")]


def command(
    tctx: typer.Context,
    from_step: FromOpt = None,
    only: OnlyOpt = None,
    resume: ResumeOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: OutputOpt = None,
) -> None:
    from deplat.cli.runbook_view import RunbookView
    from deplat.runbook import Runbook

    ctx = context(tctx, output)
    names = [n.strip() for item in (only or []) for n in item.split(",") if n.strip()] or None
    view = RunbookView(ctx.reporter)
    runbook = Runbook(ctx, on_event=view.on_event, yes=yes)
    if not dry_run:
        ctx.reporter = view
    try:
        with view:
            result = runbook.run(from_step=from_step, only=names, resume=resume, dry_run=dry_run)
    finally:
        ctx.reporter = view.parent
    _render(ctx, result)
    if result.status == "failed" and result.error is not None:
        err = result.error
        if ctx.output_format == "json" and hasattr(err, "exit_code"):
            typer.secho(f"Error: {err}", err=True, fg="red")
            raise typer.Exit(result.exit_code)
        raise err
    if result.status == "incomplete":
        missing = [s.name for s in result.steps if s.status == "not built"]
        typer.secho(f"Runbook incomplete: not built yet: {', '.join(missing)}", err=True, fg="yellow")
        raise typer.Exit(result.exit_code)


command.__doc__ = f"""Run the whole runbook, in order; stop at the first failing step with its exit code.

    Steps, in order: {' '.join(s.name for s in RUNBOOK_STEPS)}.
    Local env only (skipped elsewhere): {' '.join(s.name for s in RUNBOOK_STEPS if s.local_only)}.
    State is kept in .deplat/<env>/runbook.json; `--resume` continues from the failed step.
    Outside the local env, infrastructure changes need --yes.
    """  # the step list comes from the runbook itself, so help never drifts from what runs


def _render(ctx: Context, result) -> None:
    if ctx.output_format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        return
    rows = []
    for s in result.steps:
        note = s.error or s.note
        if len(s.attempts) > 1:  # a resumed step: say so, the earlier failure is in `deplat report`
            failed = sum(a.status != "ok" for a in s.attempts[:-1])
            note = f"attempt {len(s.attempts)} ({failed} failed before)" + (f"; {note}" if note else "")
        rows.append([s.name, s.status, f"{s.duration_s:.1f}s" if s.duration_s is not None else "",
                     "" if s.rows_written is None else f"{s.rows_written:,}", s.dq or "",
                     (note[:90] + "…") if note and len(note) > 90 else note])
    head = f"runbook {result.runbook_id} ({result.env}): {result.status}"
    if result.duration_s is not None:
        head += f" in {result.duration_s:.0f}s"
    if result.resumed_from:
        head += f", resumed from {result.resumed_from}"
    from rich.console import Console
    from rich.table import Table

    from deplat.core.console import literal

    # A log file gets the whole table on one line per step, not wrapped at Rich's 80-column default.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    t = Table(title=literal(head), title_justify="left")
    for col in ("step", "status", "duration", "rows written", "DQ", "note"):
        t.add_column(col, justify="right" if col in ("duration", "rows written") else "left")
    for row in rows:
        t.add_row(*(literal(v) for v in row))
    console.print(t)
