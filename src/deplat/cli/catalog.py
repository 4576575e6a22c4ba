"""`deplat catalog`: Glue catalog registration of the lake's Delta tables."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context, emit, table

app = typer.Typer(no_args_is_help=True)


class Layer(str, Enum):
    silver = "silver"
    gold = "gold"


LayerOpt = Annotated[Layer | None, typer.Option("--layer", "-l", help="silver or gold (default: both).")]
TableOpt = Annotated[str | None, typer.Option("--table", "-t", help="Only this table.")]


def _render(result, title: str) -> None:
    rows = [[f"{a.layer}.{a.table}", a.database, a.action + ("" if a.applied or a.action == "unchanged"
                                                              else " (planned)" if result.dry_run else ""),
             a.version, "\n".join(a.changes)] for a in result.actions]
    table(title, ["table", "glue database", "action", "delta version", "changes"], rows)
    if not result.actions:
        typer.echo("no Delta tables found in the lake", err=True)
    elif not result.drift:
        typer.echo("no change: the Glue catalog matches the Delta logs", err=True)


@app.command("register")
def register(
    tctx: typer.Context,
    layer: LayerOpt = None,
    table_name: TableOpt = None,
    dry_run: DryRunOpt = False,
    prune: Annotated[bool, typer.Option(help="Delete Glue tables whose Delta folder vanished (needs --yes).")]
    = False,
    yes: YesOpt = False,
    output: OutputOpt = None,
) -> None:
    """Create or update one Glue table per Delta table (columns from the Delta log); idempotent."""
    from deplat.catalog import layers_for, reconcile

    ctx = context(tctx, output)
    result = reconcile(ctx, layers_for(layer.value if layer else None), table_name, apply=not dry_run,
                       prune=prune, yes=yes)
    emit(ctx, result.to_dict(), lambda: _render(result, "catalog register" + (" (dry run)" if dry_run else "")))


@app.command("diff")
def diff(tctx: typer.Context, layer: LayerOpt = None, table_name: TableOpt = None,
         output: OutputOpt = None) -> None:
    """Drift between Glue and the Delta logs; exit 1 when there is some."""
    from deplat.catalog import layers_for, reconcile

    ctx = context(tctx, output)
    result = reconcile(ctx, layers_for(layer.value if layer else None), table_name, apply=False)
    emit(ctx, result.to_dict(), lambda: _render(result, "catalog diff"))
    if result.drift:
        raise typer.Exit(1)


@app.command("list")
def list_(tctx: typer.Context, layer: LayerOpt = None, output: OutputOpt = None) -> None:
    """Tables with their Delta version, row count (from the log's stats) and registration state."""
    from deplat.catalog import layers_for, reconcile

    ctx = context(tctx, output)
    result = reconcile(ctx, layers_for(layer.value if layer else None), apply=False, count_rows=True)
    state = {"unchanged": "registered", "update": "drifted", "create": "not registered",
             "orphan": "orphan (no Delta folder)", "missing_files": "registered, DATA FILES MISSING"}

    def render() -> None:
        table("catalog", ["table", "glue database", "delta version", "rows", "state"],
              [[f"{a.layer}.{a.table}", a.database, a.version, "not counted" if a.missing_files else a.rows,
                "\n".join([state.get(a.action, a.action), *a.missing_files])] for a in result.actions])

    emit(ctx, [{"table": f"{a.layer}.{a.table}", "database": a.database, "version": a.version,
                "rows": a.rows, "state": state.get(a.action, a.action), "missing_files": a.missing_files}
               for a in result.actions], render)
