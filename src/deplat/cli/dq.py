"""`deplat dq`: data-quality suites (dq/suites/*.yml) checked where the data is, and the gate's demo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context, emit, finite, table

if TYPE_CHECKING:
    from deplat.core.context import Context

app = typer.Typer(no_args_is_help=True)

TableArg = Annotated[str, typer.Argument(help="The lake table, <layer>.<table> (e.g. silver.fx_rates).")]
SuiteOpt = Annotated[str | None, typer.Option("--suite", help="A suite file instead of dq/suites' one.")]
FailOnOpt = Annotated[str, typer.Option("--fail-on", help="error: exit 5 on failed error expectations; "
                                        "warn: also exit 6 when only warnings failed.")]
TimeoutOpt = Annotated[float | None, typer.Option(help="Seconds for the check job.", callback=finite)]


def _sample(value: Any) -> str:
    if isinstance(value, dict):  # a compound key
        return "(" + ", ".join(f"{k}={v}" for k, v in value.items()) + ")"
    return str(value)


def _cell(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_report(report: Any) -> None:
    """A Rich table per suite: one row per expectation."""
    from deplat.core.console import literal

    for s in report.suites:
        rows = []
        for r in s["results"]:
            state = "pass" if r["success"] else (literal("FAIL", "red") if r["severity"] == "error"
                                                 else literal("WARN", "yellow"))
            pct = r.get("unexpected_percent")
            rows.append([r["expectation"], r["severity"], state, _cell(r.get("observed")),
                         r.get("unexpected_count"), "" if pct is None else f"{pct:.2f}%",
                         _cell("; ".join(_sample(v) for v in r.get("samples") or []), 60)])
        verdict = "passed" if s["success"] else "FAILED"
        table(f"{s['table']} · suite {s['suite']} · Delta version {s['delta_version']} · {s['rows']} rows · "
              f"{verdict}", ["expectation", "severity", "result", "observed", "unexpected", "%", "sample bad values"],
              rows)
        if s.get("validation_uri"):
            typer.echo(f"GX validation result: {s['validation_uri']}")


def _exit(ctx: Context, report: Any) -> None:
    err = report.error()
    if err is None:
        return
    if ctx.output == "json":  # the report already is the JSON document on stdout: only stderr here
        typer.secho(f"Error: {err.message}", err=True, fg="red")
        raise typer.Exit(err.exit_code)
    raise err


@app.command("check")
def check(
    tctx: typer.Context,
    table_name: TableArg,
    suite: SuiteOpt = None,
    fail_on: FailOnOpt = "error",
    timeout: TimeoutOpt = None,
    output: OutputOpt = None,
) -> None:
    """Check a table against its DQ suite, as a job on the environment's engine (local Spark or EMR).

    Exit 0 pass, 5 an error expectation failed, 6 only warnings failed with --fail-on warn,
    2 unknown table/suite or a suite naming a missing column. Results go to gold.quality_results,
    the GX validation result to <lake>/_quality/, the FailedSuites metric to CloudWatch.
    """
    from deplat.dq.service import DqService

    ctx = context(tctx, output)
    report = DqService(ctx).check(table_name, suite, fail_on, timeout=timeout)
    emit(ctx, report.to_dict(), lambda: render_report(report))
    _exit(ctx, report)


@app.command("list")
def list_suites(tctx: typer.Context, output: OutputOpt = None) -> None:
    """The DQ suites in dq/suites and the last result of each (from gold.quality_results)."""
    from deplat.dq.service import DqService

    ctx = context(tctx, output)
    rows = DqService(ctx).list()

    def render() -> None:
        table("DQ suites", ["suite", "table", "expectations", "last result", "checked at", "Delta version",
                            "failed expectations"],
              [[r["suite"], r["table"], r["expectations"], r["last_result"], r["last_checked_at"],
                r["last_delta_version"], _cell(", ".join(r["last_failed"]), 60)] for r in rows])

    emit(ctx, rows, render)


@app.command("demo-failure")
def demo_failure(
    tctx: typer.Context,
    table_name: TableArg,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Append bad rows to a table (a Delta commit), check it (exit 5), then RESTORE the version before.

    The restore runs even when the check is interrupted; versions and row counts before/after are shown.
    """
    from deplat.dq.service import DqService

    ctx = context(tctx, output)
    result = DqService(ctx).demo_failure(table_name, yes=yes, dry_run=dry_run)
    emit(ctx, result.to_dict(), lambda: render_demo(result, dry_run))
    if result.report is not None:
        _exit(ctx, result.report)


def render_demo(result: Any, dry_run: bool = False) -> None:
    """In the order it happened: the bad commit, the check's verdict (its FAILED table), then the RESTORE."""
    if dry_run:
        table(f"dq demo-failure {result.table} (dry run: nothing written)", ["", "Delta version", "rows"],
              [["now", result.version_before, result.rows_before],
               [f"would append {result.appended} bad rows", None, None]])
        return
    typer.echo(f"1. appended {result.appended} bad rows to {result.table}: version {result.version_before} -> "
               f"{result.version_bad} ({result.rows_before} -> {result.rows_bad} rows)")
    if result.report is not None:
        verdict = "FAILED, as intended" if result.report.failed_suites else "passed (the bad rows were not caught)"
        typer.echo(f"2. DQ check of {result.table} at version {result.version_bad}: {verdict}")
        render_report(result.report)
    typer.echo(f"3. RESTORE of {result.table} to version {result.version_before} (done after the check):")
    table(f"dq demo-failure {result.table}", ["", "Delta version", "rows"],
          [["before", result.version_before, result.rows_before],
           [f"with {result.appended} bad rows", result.version_bad, result.rows_bad],
           ["after RESTORE", result.version_after, result.rows_after]])
    typer.echo("content after == before: " + ("yes" if result.content_equal else "NO"))
