"""`deplat local up|down|status`: the local stack (moto, PostgreSQL, ...) as managed subprocesses."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

app = typer.Typer(no_args_is_help=True)

ServicesArg = Annotated[list[str] | None, typer.Argument(help="Services (default: all).", show_default=False)]


def _stack(ctx):
    from deplat.local.stack import LocalStack

    return LocalStack(ctx.local_dir, ctx.settings.local_stack)


def _render(ctx, title: str, statuses) -> None:
    rows = [[s.name, s.state, "yes" if s.healthy else "no", s.pid, s.port, s.action, s.log] for s in statuses]
    emit(ctx, [s.to_dict() for s in statuses],
         lambda: table(title, ["service", "state", "healthy", "pid", "port", "action", "log"], rows))


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
def down(tctx: typer.Context, services: ServicesArg = None, output: OutputOpt = None) -> None:
    """Stop the services this stack started (never anything else)."""
    ctx = context(tctx, output)
    _render(ctx, "local stack", _stack(ctx).down(services))


@app.command()
def status(tctx: typer.Context, services: ServicesArg = None, output: OutputOpt = None) -> None:
    """Show each service: state, health, pid, port, log file. Exit 1 if any is not healthy."""
    ctx = context(tctx, output)
    statuses = _stack(ctx).status(services)
    _render(ctx, "local stack", statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)
