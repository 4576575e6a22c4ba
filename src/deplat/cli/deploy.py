"""`deplat deploy`: build and sync the artifacts (wheel, jobs, config, DQ suites, dependency archive)."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, context, emit, table

NAME = "deploy"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def command(
    tctx: typer.Context,
    dry_run: DryRunOpt = False,
    deps_archive: Annotated[bool, typer.Option(
        "--deps-archive/--no-deps-archive",
        help="Build the jobs' dependency archive for EMR's Python (cached); --no-deps-archive keeps the "
             "deployed one.")] = True,
    output: OutputOpt = None,
) -> None:
    """Build and sync artifacts to the artifacts bucket: only changed content is uploaded.

    Content-addressed (artifacts/<sha256>/<name>) with a manifest at artifacts/manifest.json;
    --dry-run lists what would change. With MWAA on (mwaa_enabled), also the Airflow DAG of the new
    manifest and requirements.txt under airflow/ (`deplat airflow render`).
    """
    from deplat.airflow_dag import deploy_dag
    from deplat.artifacts import deploy

    ctx = context(tctx, output)
    result = deploy(ctx, dry_run=dry_run, deps_archive=deps_archive)
    airflow = [] if dry_run else deploy_dag(ctx)

    def render() -> None:
        shown = [c for c in result.changes if c.change != "unchanged" or c.action == "upload"]
        if shown:
            table(f"deploy to s3://{result.bucket}" + (" (dry run)" if dry_run else ""),
                  ["file", "change", "action", "size", "sha256"],
                  [[c.name, c.change, ("would " if dry_run and c.action else "") + c.action, _size(c.size),
                    c.sha256[:12]] for c in shown])
        verb = "would upload" if dry_run else "uploaded"
        manifest = ("unchanged" if result.manifest_hash == result.previous_manifest_hash
                    else ("would change" if dry_run else "written"))
        typer.echo(f"{verb} {len(result.uploaded)} files ({_size(result.uploaded_bytes)}), "
                   f"skipped {len(result.skipped)} ({_size(result.skipped_bytes)}); "
                   f"manifest {result.manifest_hash[:12]} {manifest}")
        for uri in airflow:
            typer.echo(f"MWAA: wrote {uri}")

    emit(ctx, {**result.to_dict(), "airflow": airflow}, render)
