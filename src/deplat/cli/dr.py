"""`deplat dr`: disaster recovery (reprocess a partition, Delta history and RESTORE, replication)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context, emit, table

app = typer.Typer(no_args_is_help=True)
replication = typer.Typer(no_args_is_help=True, help="The lake bucket's cross-region replication.")
app.add_typer(replication, name="replication")

TableArg = Annotated[str, typer.Argument(help="<layer>.<table>, e.g. silver.fx_rates")]


def _short(values: dict, keys: int = 4) -> str:
    items = list(values.items())[:keys]
    text = ", ".join(f"{k}={v}" for k, v in items)
    return text + (" ..." if len(values) > keys else "")


@app.command("reprocess")
def reprocess(
    tctx: typer.Context,
    # recovery.REPROCESSABLE, spelled out so that --help does not import the service (a test keeps them equal).
    pipeline: Annotated[str, typer.Argument(help="fx (the pipelines whose every step takes --partition-date).")],
    partition_date: Annotated[str, typer.Option("--partition-date", help="YYYY-MM-DD to rerun.")],
    output: OutputOpt = None,
) -> None:
    """Rerun one pipeline for one partition date (idempotent: replaces exactly that partition)."""
    from deplat.recovery import reprocess as run_reprocess

    ctx = context(tctx, output)
    result = run_reprocess(ctx, pipeline, partition_date)

    def render() -> None:
        table(f"reprocess {pipeline} {partition_date} ({result.env}, batch {result.batch_id})",
              ["step", "run id", "state", "read", "written", "rejected"],
              [[s.step, s.run_id, s.state, *((s.metrics[0] if s.metrics else {}).get(c) for c in
                                              ("read", "written", "rejected"))] for s in result.steps])

    emit(ctx, result.to_dict(), render)


@app.command("history")
def history(
    tctx: typer.Context,
    name: TableArg,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Newest N commits.", min=1)] = 20,
    output: OutputOpt = None,
) -> None:
    """The table's Delta history: version, time, operation, parameters and metrics (no JVM)."""
    from dataclasses import asdict

    from deplat.recovery import history as read_history

    ctx = context(tctx, output)
    entries = read_history(ctx, name, limit)

    def render() -> None:
        table(f"{name} history ({ctx.env.name})", ["version", "time (UTC)", "operation", "parameters", "metrics"],
              [[e.version, e.timestamp, e.operation, _short(e.parameters, 3), _short(e.metrics, 4)]
               for e in entries])

    emit(ctx, [asdict(e) for e in entries], render)


def _render_preview(preview) -> None:
    now, then = preview.current, preview.target
    table(f"restore {preview.table}: version {now.version} -> {then.version} (counts from the Delta log)",
          ["", "version", "commit time (UTC)", "rows", "files", "bytes", "note"],
          [["now", now.version, now.timestamp, _rows(now.rows), now.files, now.bytes, now.note],
           ["after restore", then.version, then.timestamp, _rows(then.rows), then.files, then.bytes, then.note]])
    if preview.current_missing:
        table(f"{len(preview.current_missing)} data file(s) of version {now.version} missing from storage "
              "(the restore drops them)", ["missing file"], [[u] for u in preview.current_missing])
    if preview.undone:
        table("commits undone", ["version", "time (UTC)", "operation", "metrics"],
              [[e.version, e.timestamp, e.operation, _short(e.metrics, 3)] for e in preview.undone])


def _rows(rows) -> str:
    return "not counted" if rows is None else str(rows)


@app.command("restore")
def restore(
    tctx: typer.Context,
    name: TableArg,
    version: Annotated[int | None, typer.Option("--version", help="Delta version to restore.", min=0)] = None,
    timestamp: Annotated[str | None, typer.Option(
        "--timestamp", help="Restore the last version committed at or before this ISO time (UTC).")] = None,
    yes: YesOpt = False,
    output: OutputOpt = None,
) -> None:
    """Delta RESTORE to a version or time: preview first (rows/files now vs then, commits undone);
    runs only with --yes (exit 7 without). Fails clearly if VACUUM removed the target's files."""
    from deplat.recovery import preview_restore
    from deplat.recovery import restore as run_restore
    from deplat_job.errors import SafetyError

    ctx = context(tctx, output)
    if not yes:
        preview = preview_restore(ctx, name, version, timestamp)
        emit(ctx, {"preview": preview.to_dict(), "restored": False}, lambda: _render_preview(preview))
        if preview.no_op:
            return  # already at that version: nothing would change, nothing to confirm
        raise SafetyError(f"restoring {name} to version {preview.target.version} undoes "
                          f"{len(preview.undone)} commit(s); nothing was changed",
                          "review the preview above, then rerun with --yes")
    result = run_restore(ctx, name, version, timestamp, yes=True)

    def render() -> None:
        _render_preview(result.preview)
        if result.run_id is None:
            typer.echo(f"{name} is already at version {result.preview.target.version}: nothing to do")
        else:
            typer.echo(f"restored {name} (run {result.run_id}): now version {result.version_after}, "
                       f"{result.rows_after} rows in {result.files_after} files")

    emit(ctx, {**result.to_dict(), "restored": result.run_id is not None}, render)


@app.command("fsck")
def fsck(
    tctx: typer.Context,
    name: TableArg,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: OutputOpt = None,
) -> None:
    """FSCK REPAIR TABLE: drop the current version's entries for data files storage lacks (their rows
    are gone); --dry-run lists them; exit 7 without --yes. `deplat checklist daily` finds such files."""
    from deplat.recovery import fsck as run_fsck

    ctx = context(tctx, output)
    result = run_fsck(ctx, name, yes=yes, dry_run=dry_run)

    def render() -> None:
        rows = "not counted" if result.rows_lost is None else result.rows_lost
        if not result.missing:
            typer.echo(f"{name} version {result.version_before}: every data file is in storage, nothing to repair")
            return
        verb = "dropped" if result.repaired else "would drop"
        table(f"{name}: FSCK {verb} {len(result.missing)} missing file(s), {rows} rows "
              f"(version {result.version_before} -> {result.version_after})", ["missing file"],
              [[u] for u in result.missing])

    emit(ctx, result.to_dict(), render)


@replication.command("status")
def replication_status(tctx: typer.Context, output: OutputOpt = None) -> None:
    """Replication rules of the lake bucket and, in the cloud, their CloudWatch metrics (24 h)."""
    from deplat.recovery import replication_status as read_status

    ctx = context(tctx, output)
    status = read_status(ctx)

    def render() -> None:
        if status.configured:
            table(f"replication of s3://{status.bucket} ({status.env}); role {status.role}",
                  ["rule", "status", "destination", "storage class", "delete markers", "metrics", "RTC",
                   "filter"],
                  [[r["id"], r["status"], r["destination"], r["storage_class"], r["delete_markers"],
                    r["metrics"], r["replication_time"], json.dumps(r["filter"])] for r in status.rules])
        else:
            typer.echo(f"s3://{status.bucket} ({status.env}): no replication configured")
        if status.metrics:
            table("replication metrics (last 24 h)", ["rule", "metric", "statistic", "latest", "peak"],
                  [[m["rule"], m["metric"], m["statistic"], m["latest"], m["peak"]] for m in status.metrics])
        for note in status.notes:
            typer.echo(note)

    emit(ctx, status.to_dict(), render)


@app.command("reconcile")
def reconcile(
    tctx: typer.Context,
    source_table: Annotated[str, typer.Argument(help="DMS source table <schema>.<table>, e.g. app.orders")],
    direct: Annotated[bool, typer.Option(
        "--direct", help="local env: read the RDS stand-in from this process instead of a job")] = False,
    output: OutputOpt = None,
) -> None:
    """Land a key snapshot of a DMS source table (a job on the engine, where the source is reachable);
    the next `deplat run dms` removes ghost keys (keys silver holds that the source lost without a
    delete event, e.g. a primary-key change)."""
    from deplat.key_reconcile import reconcile as reconcile_service

    ctx = context(tctx, output)
    result = reconcile_service(ctx, source_table, direct=direct)
    ghosts = "no silver table yet" if result.ghost_keys is None else str(result.ghost_keys)
    emit(ctx, result.to_dict(), lambda: table(
        f"key snapshot of {result.table}", ["file", "source keys", "ghost keys in silver now", "run id"],
        [[result.file, result.source_keys, ghosts, result.run_id or "(direct)"]]))
