"""`deplat lf`: Lake Formation tags, assignments and tag-based grants, and whether LF governs the lake."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, context, emit, table

app = typer.Typer(no_args_is_help=True)


@app.command("seed")
def seed(tctx: typer.Context, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Reconcile LF-tags, their assignments (databases, tables, PII columns) and the analyst's grants."""
    from deplat.governance import LakeFormation

    ctx = context(tctx, output)
    result = LakeFormation(ctx).seed(dry_run=dry_run)

    def render() -> None:
        shown = [c for c in result.changes if c.action != "keep"] or result.changes
        table(f"lf seed{' (dry run: nothing written)' if dry_run else ''} · analyst {result.principal}",
              ["kind", "action", "resource", "detail"],
              [[c.kind, c.action, c.resource, c.detail] for c in shown])
        n = result.counts()
        typer.echo(f"{n['add']} to add, {n['keep']} kept, {n['remove']} to remove"
                   + ("" if result.changed else " · no change"), err=True)
        for w in result.warnings:
            typer.secho(f"warning: {w}", err=True, fg="yellow")

    emit(ctx, result.to_dict(), render)


@app.command("show")
def show(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Argument(
        help="<layer>.<table>, e.g. silver.customer_tpch; none: whether Lake Formation governs the lake")] = None,
    output: OutputOpt = None,
) -> None:
    """Whether Lake Formation governs the lake; with a table: its LF-tags and who may read which columns."""
    from deplat.governance import LakeFormation, lake_status

    ctx = context(tctx, output)
    if name is None:
        status = lake_status(ctx)

        def render_status() -> None:
            table(f"lake formation ({ctx.env.name}): {'governed' if status.governed else 'NOT governed'}",
                  ["check", "result", "detail", "fix"],
                  [[c.name, "pass" if c.ok else "FAIL", c.detail, c.fix] for c in status.checks])

        emit(ctx, status.to_dict(), render_status)
        return
    info = LakeFormation(ctx).show(name)

    def render() -> None:
        def fmt(tags: dict) -> str:
            return ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "-"

        table(f"{name} ({info['database']})", ["level", "name", "tags"],
              [["database", info["database"], fmt(info["database_tags"])],
               ["table", name, fmt(info["table_tags"])],
               *[["column", c, fmt(t)] for c, t in info["column_tags"].items()]])
        table("who may read what", ["principal", "permissions", "expression", "columns", "excluded"],
              [[a["principal"], ", ".join(a["permissions"]), a["expression"], ", ".join(a["columns"]),
                ", ".join(a["excluded"])] for a in info["access"]])

    emit(ctx, info, render)
