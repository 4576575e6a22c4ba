"""`deplat optimize`: Delta OPTIMIZE and VACUUM as the `maintenance` pipeline on the engine.

The work runs in `jobs/delta_maintenance.py` (EMR Serverless in the cloud, local Spark locally),
the same job the weekly EventBridge schedule starts; this service checks the retention floor
before anything is submitted, passes the options to the job and reads back its per-table figures
(the job's DEPLAT_METRICS lines).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, SafetyError
from deplat_job.pipelines.maintenance import DEFAULT_LAYERS, RETENTION_FLOOR_HOURS

if TYPE_CHECKING:
    from deplat.core.context import Context

LAYERS = ("bronze", "silver", "gold", "_errors")
PIPELINE = "maintenance"


@dataclass
class OptimizeResult:
    """Per-table figures from the maintenance job, plus the run that produced them."""

    env: str
    dry_run: bool
    retention_hours: float
    run_id: str
    batch_id: str
    tables: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_args(layers: list[str] | None = None, table: str | None = None, zorder: str | None = None,
             retention_hours: float = RETENTION_FLOOR_HOURS, dry_run: bool = False,
             force: bool = False) -> tuple[str, ...]:
    """The job's command-line options for these choices (defaults are left out: the schedule and
    `deplat run maintenance` rely on the job's own defaults)."""
    args: list[str] = []
    if layers and tuple(layers) != DEFAULT_LAYERS:
        args += ["--layers", ",".join(layers)]
    if table:
        args += ["--table", table]
    if zorder:
        args += ["--zorder", zorder]
    if retention_hours != RETENTION_FLOOR_HOURS:
        args += ["--retention-hours", f"{retention_hours:g}"]
    if force:
        args.append("--force")
    if dry_run:
        args.append("--dry-run")
    return tuple(args)


def validate(layers: list[str] | None, table: str | None, retention_hours: float, force: bool) -> None:
    """Raise SafetyError (exit 7) below the retention floor unless forced; ConfigError on bad names."""
    if retention_hours < 0:
        raise ConfigError(f"--retention-hours {retention_hours:g} is negative", "use hours >= 0")
    if retention_hours < RETENTION_FLOOR_HOURS and not force:
        raise SafetyError(
            f"VACUUM retention {retention_hours:g} h is below the {RETENTION_FLOOR_HOURS:g} h floor",
            "files removed less than 7 days ago may still be read by running queries or time travel; "
            "pass --force only if you are sure nothing reads older versions")
    for layer in layers or ():
        if layer not in LAYERS:
            raise ConfigError(f"unknown layer '{layer}'", f"choose from: {', '.join(LAYERS)}")
    if table is not None and (table.count(".") != 1 or table.split(".")[0] not in LAYERS):
        raise ConfigError(f"--table {table!r} is not <layer>.<table>", "e.g. silver.fx_rates")


def optimize(
    ctx: Context,
    layers: list[str] | None = None,
    table: str | None = None,
    zorder: str | None = None,
    retention_hours: float = RETENTION_FLOOR_HOURS,
    dry_run: bool = False,
    force: bool = False,
    run_service: Any = None,
) -> OptimizeResult:
    """Run the maintenance job with these options and return its per-table figures.

    Raises SafetyError (exit 7) below the floor without `force`, LostDataFilesError (exit 3) when a
    table's data files are gone from storage, JobFailedError (exit 4) if the job fails.
    """
    validate(layers, table, retention_hours, force)
    from deplat.recovery import lake_tables, require_data_files

    # OPTIMIZE would report SUCCESS around a lost file (or fail on it): name it first.
    require_data_files(ctx, [table] if table else lake_tables(ctx, tuple(layers or DEFAULT_LAYERS)))
    if run_service is None:
        from deplat.runs import RunService

        run_service = RunService(ctx)
    args = job_args(layers, table, zorder, retention_hours, dry_run, force)
    run = run_service.run(PIPELINE, extra_args=args)
    tables = [m for m in run.metrics if m.get("kind") == "table"]
    return OptimizeResult(ctx.env.name, dry_run, retention_hours, run.steps[-1].run_id, run.batch_id, tables)
