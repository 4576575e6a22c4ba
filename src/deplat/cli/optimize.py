"""`deplat optimize`: Delta OPTIMIZE (bin-pack, Z-ORDER, clustering) and VACUUM with a retention floor."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, context, emit, finite, table

NAME = "optimize"

LayersOpt = Annotated[list[str] | None, typer.Option(
    "--layers", help="Layers: --layers silver,gold or the option repeated (default: silver and gold).")]
TableOpt = Annotated[str | None, typer.Option("--table", help="Only this table: <layer>.<table>.")]
ZorderOpt = Annotated[str | None, typer.Option(
    "--zorder", help="Z-ORDER by this column where a table has it (clustered tables cluster instead).")]
RetentionOpt = Annotated[float, typer.Option(
    "--retention-hours", help="VACUUM keeps files removed within this many hours (floor 168).",
    min=0.0, callback=finite)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Allow retention below the 168 h floor.")]


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def command(
    tctx: typer.Context,
    layers: LayersOpt = None,
    table_name: TableOpt = None,
    zorder: ZorderOpt = None,
    retention_hours: RetentionOpt = 168.0,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """OPTIMIZE then VACUUM the Delta tables as a job on the engine; files and bytes before/after.

    Exit 7 when --retention-hours is below 168 without --force.
    """
    from deplat.maintenance import optimize

    ctx = context(tctx, output)
    chosen = [x for item in (layers or []) for x in item.replace(",", " ").split()] or None
    result = optimize(ctx, chosen, table_name, zorder, retention_hours, dry_run, force)

    def render() -> None:
        title = (f"optimize ({result.env}, run {result.run_id}, retention {result.retention_hours:g} h"
                 + (", dry run: nothing changed)" if result.dry_run else ")"))
        table(title, ["table", "action", "files before", "files after", "size before", "size after",
                      "storage before", "storage after", "to vacuum", "notes"],
              [[t["table"], t["action"], t["files_before"], t["files_after"], _size(t["bytes_before"]),
                _size(t["bytes_after"]),
                f"{t['storage_files_before']} / {_size(t['storage_bytes_before'])}",
                f"{t['storage_files_after']} / {_size(t['storage_bytes_after'])}",
                t["files_to_vacuum"], "; ".join(t.get("notes") or [])] for t in result.tables])

    emit(ctx, result.to_dict(), render)
