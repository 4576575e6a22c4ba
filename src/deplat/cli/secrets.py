"""`deplat secrets put|list|check`: source credentials into Secrets Manager, never on argv."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

app = typer.Typer(no_args_is_help=True)


@app.command()
def put(
    tctx: typer.Context,
    source: Annotated[str, typer.Argument(help="salesforce, snowflake, kafka or rds.")],
    from_file: Annotated[Path | None, typer.Option("--from-file", help="Read the JSON value from this file.",
                                                   exists=True, dir_okay=False)] = None,
    output: OutputOpt = None,
) -> None:
    """Put a source's credentials (a JSON object) from stdin or --from-file; a terminal prompts, hidden."""
    from deplat.secrets import put_secret

    ctx = context(tctx, output)
    if from_file is not None:
        value = from_file.read_text()
    elif sys.stdin.isatty():
        value = typer.prompt(f"{source} credentials (JSON)", hide_input=True)
    else:
        value = sys.stdin.read()
    info = put_secret(ctx, source, value)
    emit(ctx, info.to_dict(), lambda: typer.echo(
        f"{info.name}: the same value is already current ({info.version_id})." if info.action == "unchanged"
        else f"Stored a new version of {info.name} ({info.version_id})."))


@app.command("list")
def list_(tctx: typer.Context, output: OutputOpt = None) -> None:
    """The platform's secrets and whether each has a value (values are never shown)."""
    from deplat.secrets import list_secrets

    ctx = context(tctx, output)
    infos = list_secrets(ctx)
    rows = [[i.source, i.name, "yes" if i.has_value else "no", i.last_changed] for i in infos]
    emit(ctx, [i.to_dict() for i in infos],
         lambda: table("secrets", ["source", "name", "value set", "last changed"], rows))


@app.command()
def check(
    tctx: typer.Context,
    source: Annotated[str, typer.Argument(help="salesforce, snowflake, kafka or rds.")],
    connect: Annotated[bool, typer.Option("--connect", help="Also open a real connection with it.")] = False,
    output: OutputOpt = None,
) -> None:
    """Check a source's secret: its JSON keys (names only, never values) and, with --connect, a real
    login (Salesforce), `SELECT 1` (Snowflake, PostgreSQL for rds) or cluster metadata (Kafka). Exit 2 when keys are
    missing, 3 when the connection fails (the source's own error is shown)."""
    from deplat.secrets import check_secret

    ctx = context(tctx, output)
    result = check_secret(ctx, source, connect)

    def text() -> None:
        typer.echo(f"{result.name}: keys {', '.join(result.keys) or '(none)'}")
        if result.missing:
            typer.echo(f"missing required key(s): {', '.join(result.missing)}")
        if result.connected is not None:
            typer.echo(("connected: " if result.connected else "connection failed: ") + result.detail)
        elif connect and result.missing:
            typer.echo("not connecting: fix the missing keys first")

    emit(ctx, result.to_dict(), text)
    if result.missing:
        raise typer.Exit(2)
    if result.connected is False:
        raise typer.Exit(3)
