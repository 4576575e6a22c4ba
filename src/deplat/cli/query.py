"""`deplat query`: Run SQL over the lake (DuckDB locally, Athena in the cloud)."""

from __future__ import annotations

import csv
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

NAME = "query"


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def command(
    tctx: typer.Context,
    sql: Annotated[str | None, typer.Argument(help="The SQL (Athena/Trino dialect).", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the SQL from this file.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table (Rich), csv or json (all rows).")] = Format.table,
    limit: Annotated[int, typer.Option(help="Rows shown in the table view.", min=1)] = 50,
    max_rows: Annotated[int, typer.Option(help="Rows fetched at most.", min=1)] = 10_000,
    output: OutputOpt = None,
) -> None:
    """Run SQL over the lake: `<layer>.<table>` or `<glue db>.<table>`; exit 2 on bad SQL."""
    from deplat.query import read_sql, run_query

    ctx = context(tctx, output)
    result = run_query(ctx, read_sql(sql, file), max_rows=max_rows)
    if ctx.output_format == "json" or fmt is Format.json:
        ctx.output_format = "json"
        emit(ctx, result.to_dict())
        return
    if fmt is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        _footer(result)
        return
    _render(result, limit)


def _render(result, limit: int) -> None:
    table(None, list(result.columns), [list(row) for row in result.rows[:limit]], null="NULL")
    shown = min(limit, len(result.rows))
    more = "+" if result.truncated else ""
    if shown < len(result.rows) or result.truncated:
        typer.echo(f"showing {shown} of {len(result.rows)}{more} rows "
                   "(--limit N to show more, --format csv|json for all)", err=True)
    _footer(result)


def _footer(result) -> None:
    parts = [f"{len(result.rows)}{'+' if result.truncated else ''} rows", f"{result.elapsed_s:.2f}s",
             result.engine]
    if result.bytes_scanned is not None:
        parts.append(f"{result.bytes_scanned / 1e6:.2f} MB scanned ≈ USD {result.cost_usd:.6f}")
    if result.query_id:
        parts.append(f"query {result.query_id}")
    typer.echo(" · ".join(parts), err=True)

