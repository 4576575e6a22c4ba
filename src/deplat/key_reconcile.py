"""`deplat dr reconcile <schema.table>`: land a key snapshot of a DMS source table, so the next
`dms_bronze_to_silver` removes ghost keys (keys silver holds that the source lost without a delete
event: DMS's S3 target delivers a primary-key change as an update of the new key only).

The snapshot is taken where the source is reachable: the `dms_key_snapshot` job on the
environment's engine (EMR Serverless in the cloud, spark-submit locally: the same job), which
reads the RDS credentials from Secrets Manager by the name given here (never a value) and lands
KEYS-<ts>-<seq>.csv under <lake>/_landing/dms_keys/<schema>/<table>/. Locally, `direct` takes
the same snapshot in this process (no deploy, no JVM), in the same format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DeplatError

if TYPE_CHECKING:
    from deplat.core.context import Context

PIPELINE = "reconcile"
STEP = "dms_key_snapshot"


class SnapshotMetricsMissingError(DeplatError):
    """The job succeeded but its driver log holds no metrics for the table (exit 1)."""


@dataclass
class KeyReconcileResult:
    table: str
    file: str
    source_keys: int
    snapshot_seq: str
    ghost_keys: int | None  # silver keys the source lacks now (None: no silver table yet)
    run_id: str | None = None  # the engine run (None with `direct`)
    secret_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rds_secret_name(ctx: Context) -> str:
    """The RDS secret's name: the one Terraform gave it (`secret_names` output), else the default."""
    from deplat_job.sources.secret_store import secret_name

    applied = (ctx.outputs(required=False) or {}).get("secret_names") or {}
    return applied.get("rds") or secret_name(ctx.env.name, "rds")


def reconcile(ctx: Context, qualified: str, direct: bool = False, run_service: Any = None) -> KeyReconcileResult:
    """Land a key snapshot of the declared DMS table `qualified` (schema.table).

    Runs the `reconcile` pipeline (the dms_key_snapshot job) and returns what its metrics report;
    JobFailedError (exit 4) when the job fails, ConfigError (exit 2) for an undeclared table or
    `direct` outside the local env.
    """
    from deplat_job.pipelines.source_specs import DMS_TABLES

    if qualified not in DMS_TABLES:
        raise ConfigError(f"unknown DMS table {qualified!r}", f"one of: {', '.join(DMS_TABLES)}")
    if direct:
        if not ctx.env.is_local:
            raise ConfigError("--direct reads the local RDS stand-in from this process",
                              f"drop --direct: in '{ctx.env.name}' the dms_key_snapshot job takes the snapshot")
        from deplat.local.dms_capture import reconcile_keys

        got = reconcile_keys(ctx.lake_uri, qualified, ctx.settings.local_stack)
        return KeyReconcileResult(got.table, got.file, got.source_keys, got.snapshot_seq, got.ghost_keys)
    if run_service is None:
        from deplat.runs import RunService

        run_service = RunService(ctx)
    name = rds_secret_name(ctx)
    # Locally the DMS files come from deplat's capture (WAL positions); in the cloud from DMS itself.
    scale = "wal" if ctx.env.is_local else "dms"
    run = run_service.run(PIPELINE, extra_args=("--tables", qualified, "--secret-name", name, "--seq-scale", scale))
    step = run.steps[-1]
    report = next((m.get("tables", {}).get(qualified) for m in step.metrics if m.get("step") == STEP), None)
    if not report:
        raise SnapshotMetricsMissingError(f"run {step.run_id} reported no key snapshot of {qualified}",
                                          f"read its driver log: `deplat logs {step.run_id}`")
    return KeyReconcileResult(qualified, report["file"], int(report["source_keys"]), report["snapshot_seq"],
                              report.get("ghost_keys"), step.run_id, name)
