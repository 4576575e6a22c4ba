"""`deplat local up|down|status|seed|dms-capture`: the local stack as managed subprocesses: moto (with the EMR
Serverless stand-in), PostgreSQL, the Snowflake (fakesnow) and Salesforce stand-ins and a Kafka broker."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from deplat.cli._common import OutputOpt, YesOpt, context, emit, finite, table

if TYPE_CHECKING:
    from deplat.core.context import Context

app = typer.Typer(no_args_is_help=True)

ServicesArg = Annotated[list[str] | None, typer.Argument(help="Services (default: all).", show_default=False)]


def _stack(ctx: Context):
    from deplat.local.stack import LocalStack, legacy_pids_warning

    warning = legacy_pids_warning(ctx.settings.state_dir / "local", ctx.stack_dir)
    if warning:
        ctx.reporter.warn(warning)
    return LocalStack(ctx.stack_dir, ctx.settings.local_stack)


def _render(ctx: Context, title: str, statuses) -> None:
    rows = [[s.name, s.state, "yes" if s.healthy else "no", s.pid, s.port, s.action, s.log] for s in statuses]

    def text() -> None:
        table(title, ["service", "state", "healthy", "pid", "port", "action", "log"], rows)
        from deplat.local.standins.emr_serverless import summary

        for s in statuses:
            if s.emr_serverless_standin is not None and s.healthy:
                typer.echo(summary(s.emr_serverless_standin))

    emit(ctx, [s.to_dict() for s in statuses], text)


@app.command()
def up(
    tctx: typer.Context,
    services: ServicesArg = None,
    jars: Annotated[bool, typer.Option(help="Resolve the Spark jar cache (once; offline after).")] = True,
    output: OutputOpt = None,
) -> None:
    """Start the local services (idempotent: healthy services are left alone)."""
    ctx = context(tctx, output)
    if jars:
        from deplat.local.jars import cached_jars, ensure_jars

        if cached_jars() is None:
            with ctx.reporter.status("Resolving Spark jars from Maven Central (once)..."):
                ensure_jars()
    with ctx.reporter.status("Starting local services..."):
        statuses = _stack(ctx).up(services)
    _render(ctx, "local stack", statuses)


@app.command()
def down(tctx: typer.Context, services: ServicesArg = None, yes: YesOpt = False,
         output: OutputOpt = None) -> None:
    """Stop the services this stack started (never anything else). Asks first (or --yes) while a
    local run is still going."""
    ctx = context(tctx, output)
    stack = _stack(ctx)
    live = stack.live_runs()
    if live and not yes and ctx.output_format == "text" and sys.stdin.isatty():
        ctx.reporter.warn(f"local run(s) still going: {', '.join(live)}; they fail without the stack")
        yes = typer.confirm("Stop the local stack anyway?", default=False, abort=True)
    _render(ctx, "local stack", stack.down(services, confirmed=yes))


@app.command()
def status(tctx: typer.Context, services: ServicesArg = None, output: OutputOpt = None) -> None:
    """Show each service: state, health, pid, port, log file. Exit 1 if any is not healthy."""
    ctx = context(tctx, output)
    statuses = _stack(ctx).status(services)
    _render(ctx, "local stack", statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def seed(
    tctx: typer.Context,
    scale_factor: Annotated[float, typer.Option(
        "--scale", "--scale-factor",
        help="Scale factor (TPC-H's: sf 1 = 1.5M orders). Every source follows it from the sample's sizes "
             "at 0.01: RDS 200/1,000 rows x sf/0.01, Salesforce 120/300 records x sf/0.01. Another "
             "scale than the last replaces each source (use a fresh lake: DEPLAT_LAKE_URI).",
        min=0.0001, callback=finite)] = 0.01,
    output: OutputOpt = None,
) -> None:
    """Load the local sources: TPC-H into fakesnow, rows + CDC slot into PostgreSQL, the DMS full
    load, and each source's connection into Secrets Manager (values never shown). Idempotent at one
    scale; `--scale 0.1` or `--scale 1` makes every source 10x or 100x the sample."""
    from deplat.local.seed import seed_all

    ctx = context(tctx, output)
    result = seed_all(ctx, scale_factor)

    def text() -> None:
        snow, rds, dms = result.snowflake, result.rds, result.dms

        def counts(d: dict) -> str:
            return ", ".join(f"{t}={n}" for t, n in d.items())

        rows = [["snowflake (TPC-H)", snow["secret_name"], counts(snow["tables"])],
                ["postgres (RDS)", f"database {rds['database']}, slot {rds['slot']}",
                 counts(rds["rows"]) + (" (inserted now)" if any(rds["rows"].values()) else " (already seeded)")],
                ["salesforce stand-in", result.salesforce["secret_name"],
                 f"Account={result.salesforce['accounts']}, Opportunity={result.salesforce['opportunities']}, "
                 f"secret {result.salesforce['secret_action']}"],
                ["dms full load", dms["landing"], counts(dms["full_load_rows"]) or "LOAD files already present"]]
        table("local sources", ["source", "where", "rows"], rows)

    emit(ctx, result.to_dict(), text)


@app.command("dms-capture")
def dms_capture(
    tctx: typer.Context,
    full: Annotated[bool, typer.Option(help="Write the full load first (skipped if LOAD files exist).")] = False,
    sample_changes: Annotated[int, typer.Option(help="First make N demo inserts/updates/deletes.", min=0)] = 0,
    output: OutputOpt = None,
) -> None:
    """Capture the RDS stand-in's changes (logical decoding) as DMS S3-target CDC files (Op I/U/D)."""
    from deplat.local.seed import capture

    ctx = context(tctx, output)
    result = capture(ctx, full=full, sample_changes=sample_changes)
    rows = [[t, c.get("I", 0), c.get("U", 0), c.get("D", 0)] for t, c in result["changes"].items()]
    emit(ctx, result, lambda: table(f"DMS capture -> {result['landing']} (up to {result['upto_lsn']})",
                                    ["table", "I", "U", "D"], rows))
