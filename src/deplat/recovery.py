"""Disaster recovery: Delta history, RESTORE to a version or time, partition reprocessing, and the
lake's S3 replication status.

Reading (history, the restore preview) uses delta-rs (`deltalake`): it reads the transaction log
without a JVM, in about a second, from a local lake or from S3. Writing the RESTORE commit runs
Delta's own `RESTORE` (`DeltaTable.restoreToVersion/restoreToTimestamp`) in the `delta_restore`
job on the environment's engine (EMR Serverless in the cloud, spark-submit locally), the same
Delta implementation that wrote the tables: RESTORE only commits add/remove actions for files
that already exist, never copies data, and delta-rs may refuse writer features (clustering,
deletion vectors) that delta-spark enabled.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

from deplat.errors import ConfigError, DeplatError, ExitCode, SafetyError

LAYERS = ("bronze", "silver", "gold", "_errors")
RESTORE_PIPELINE = "restore"


class RestoreImpossibleError(DeplatError):
    """The target version's data files are gone (VACUUM removed them): pick another version (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass
class HistoryEntry:
    version: int
    timestamp: str  # ISO 8601, UTC
    operation: str
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableState:
    version: int
    timestamp: str
    rows: int
    files: int
    bytes: int


@dataclass
class RestorePreview:
    """What a restore would do: the table now and at the target, and the commits it undoes."""

    table: str
    uri: str
    current: TableState
    target: TableState
    undone: list[HistoryEntry]
    missing_files: int = 0

    @property
    def no_op(self) -> bool:
        return self.current.version == self.target.version

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "no_op": self.no_op}


@dataclass
class RestoreResult:
    preview: RestorePreview
    run_id: str | None
    version_after: int
    rows_after: int
    files_after: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplicationStatus:
    env: str
    bucket: str
    configured: bool
    role: str | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- locating and opening tables ----------------------------------------------------------------

def parse_table(name: str) -> tuple[str, str]:
    """`silver.fx_rates` -> ("silver", "fx_rates"); ConfigError for anything else."""
    layer, _, table = name.partition(".")
    if layer not in LAYERS or not table or "." in table or "/" in table:
        raise ConfigError(f"{name!r} is not <layer>.<table>",
                          f"layers: {', '.join(LAYERS)}; e.g. silver.fx_rates")
    return layer, table


def table_uri(ctx: Any, name: str) -> str:
    layer, table = parse_table(name)
    return f"{ctx.lake_uri.rstrip('/')}/{layer}/{table}"


def storage_options(ctx: Any, uri: str) -> dict[str, str] | None:
    """delta-rs object-store options for an s3:// lake, from the environment's boto3 session.

    Credentials go to delta-rs in memory only; nothing is logged or returned to the caller.
    """
    if urlparse(uri).scheme not in ("s3", "s3a"):
        return None
    creds = ctx.aws.session.get_credentials().get_frozen_credentials()
    opts = {"AWS_REGION": ctx.env.region, "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key}
    if creds.token:
        opts["AWS_SESSION_TOKEN"] = creds.token
    if ctx.env.endpoint_url:
        opts.update({"AWS_ENDPOINT_URL": ctx.env.endpoint_url, "AWS_ALLOW_HTTP": "true",
                     "AWS_S3_ALLOW_UNSAFE_RENAME": "true"})
    return opts


def open_table(ctx: Any, name: str, version: int | None = None):
    """The deltalake.DeltaTable of `layer.table` (at `version`); ConfigError if it is not Delta."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = table_uri(ctx, name)
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options(ctx, uri))
    except TableNotFoundError:
        raise ConfigError(f"no Delta table {name} at {uri}",
                          "check the name (`deplat query` lists tables) and that its pipeline ran") from None


def _iso(ms: int | float | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def _entry(raw: dict[str, Any]) -> HistoryEntry:
    params = raw.get("operationParameters") or {}
    metrics = raw.get("operationMetrics") or {}
    return HistoryEntry(int(raw.get("version", -1)), _iso(raw.get("timestamp")), raw.get("operation", ""),
                        {k: v for k, v in params.items() if v not in (None, "", "[]")},
                        {k: v for k, v in metrics.items() if v not in (None, "")})


def history(ctx: Any, name: str, limit: int | None = None) -> list[HistoryEntry]:
    """The table's commits, newest first (version, time, operation, parameters, metrics)."""
    dt = open_table(ctx, name)
    return [_entry(h) for h in dt.history(limit)]


# --- restore ----------------------------------------------------------------------------------

def _state(dt, commit_times: dict[int, Any]) -> TableState:
    import pyarrow as pa
    import pyarrow.compute as pc

    actions = pa.table(dt.get_add_actions(flatten=True))  # arro3 -> pyarrow (Arrow C stream)
    size = pc.sum(actions.column("size_bytes")).as_py() if actions.num_rows else 0
    rows = dt.to_pyarrow_dataset().count_rows()
    version = int(dt.version())
    stamp = _iso(commit_times.get(version)) if commit_times.get(version) else ""
    return TableState(version, stamp, int(rows), actions.num_rows, int(size or 0))


def _missing(ctx: Any, uris: list[str]) -> int:
    """How many of these data files no longer exist (VACUUM removed them)."""
    if not uris:
        return 0
    scheme = urlparse(uris[0]).scheme
    if scheme in ("", "file"):
        return sum(not os.path.exists(urlparse(u).path if scheme else u) for u in uris)
    s3 = ctx.aws.client("s3")
    bucket = urlparse(uris[0]).netloc
    keys: set[str] = set()
    prefix = os.path.commonpath([urlparse(u).path.lstrip("/") for u in uris])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return sum(urlparse(u).path.lstrip("/") not in keys for u in uris)


def _resolve_version(dt, version: int | None, timestamp: str | None) -> int:
    """The target version: `version`, or the last commit at or before `timestamp` (Delta's rule)."""
    if (version is None) == (timestamp is None):
        raise ConfigError("give exactly one of --version N or --timestamp T")
    entries = dt.history()
    if version is not None:
        versions = {int(h["version"]) for h in entries}
        if version not in versions:
            raise ConfigError(f"version {version} is not in the table's history",
                              f"available: {min(versions)}..{max(versions)} (`deplat dr history`)")
        return version
    try:
        when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--timestamp {timestamp!r} is not ISO 8601", "e.g. 2026-11-29T15:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    ms = when.timestamp() * 1000
    before = [int(h["version"]) for h in entries if h.get("timestamp", 0) <= ms]
    if not before:
        first = _iso(min(h.get("timestamp", 0) for h in entries))
        raise ConfigError(f"the table did not exist yet at {timestamp}", f"its first commit is at {first}")
    return max(before)


def preview_restore(ctx: Any, name: str, version: int | None = None, timestamp: str | None = None
                    ) -> RestorePreview:
    """Rows and files now vs at the target, the commits a restore would undo, missing files.

    Raises RestoreImpossibleError when VACUUM already deleted files the target version needs.
    """
    current = open_table(ctx, name)
    target_version = _resolve_version(current, version, timestamp)
    undone = [_entry(h) for h in current.history() if int(h["version"]) > target_version]
    try:
        old = open_table(ctx, name, version=target_version)
    except DeplatError:
        raise
    except Exception as exc:  # noqa: BLE001 - delta-rs: the log checkpoint of that version is gone
        raise RestoreImpossibleError(f"{name} version {target_version} can no longer be read: {exc}",
                                     "its log entries were cleaned up; pick a newer version") from exc
    missing = _missing(ctx, old.file_uris())
    if missing:
        vacuums = [e for e in undone if e.operation.startswith("VACUUM")]
        when = f" (VACUUM at {vacuums[-1].timestamp})" if vacuums else ""
        raise RestoreImpossibleError(
            f"{name} version {target_version}: {missing} of {len(old.file_uris())} data files were "
            f"vacuumed{when}; RESTORE would produce a table with missing data",
            "restore a version newer than the last VACUUM's retention window, or recover the files "
            "from S3 object versions / the replica bucket first")
    # Row counts are counted (a scan of each version), never taken from commit metrics.
    # Commit times from the current table's log: delta-rs 1.6 numbers a time-travelled table's history()
    # from its loaded version while reading the newest commits, so v1 would show v2's time.
    times = {int(h["version"]): h.get("timestamp") for h in current.history()}
    return RestorePreview(name, table_uri(ctx, name), _state(current, times), _state(old, times), undone, missing)


def restore(ctx: Any, name: str, version: int | None = None, timestamp: str | None = None,
            yes: bool = False, run_service: Any = None) -> RestoreResult:
    """Delta RESTORE as a job on the engine, after the preview; SafetyError (exit 7) without `yes`."""
    preview = preview_restore(ctx, name, version, timestamp)
    if not yes:
        raise SafetyError(f"restoring {name} to version {preview.target.version} undoes "
                          f"{len(preview.undone)} commit(s)", "review the preview, then rerun with --yes")
    run_id = None
    if not preview.no_op:
        if run_service is None:
            from deplat.runs import RunService

            run_service = RunService(ctx)
        run = run_service.run(RESTORE_PIPELINE, extra_args=(
            "--table", name, "--version", str(preview.target.version)))
        run_id = run.steps[-1].run_id
    table = open_table(ctx, name)
    after = _state(table, {int(h["version"]): h.get("timestamp") for h in table.history(1)})
    return RestoreResult(preview, run_id, after.version, after.rows, after.files)


# --- reprocess --------------------------------------------------------------------------------

# The pipelines whose every step's job honours --partition-date (runs._require_partition_support
# refuses the others); tests/unit/test_oncall_flags.py keeps this list equal to the job scripts.
REPROCESSABLE = ("fx",)


def reprocess(ctx: Any, pipeline: str, partition_date: str, run_service: Any = None):
    """Rerun a pipeline for one partition date. Idempotent: every step replaces exactly that
    partition (replaceWhere / a partition-scoped MERGE), so a second run changes nothing."""
    if pipeline not in REPROCESSABLE:
        raise ConfigError(f"pipeline '{pipeline}' cannot be reprocessed by partition",
                          f"choose one of: {', '.join(REPROCESSABLE)}")
    if run_service is None:
        from deplat.runs import RunService

        run_service = RunService(ctx)
    return run_service.run(pipeline, partition_date=partition_date)


# --- replication ------------------------------------------------------------------------------

REPLICATION_METRICS = ("ReplicationLatency", "OperationsPendingReplication", "BytesPendingReplication",
                       "OperationsFailedReplication")


def replication_status(ctx: Any, hours: int = 24, now: datetime | None = None) -> ReplicationStatus:
    """The lake bucket's replication rules (S3) and, in the cloud, the last `hours` of S3
    replication metrics from CloudWatch (published per rule when the rule enables metrics)."""
    from botocore.exceptions import ClientError

    bucket = ctx.output("lake_bucket")
    s3 = ctx.aws.client("s3")
    status = ReplicationStatus(ctx.env.name, bucket, False)
    try:
        config = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ReplicationConfigurationNotFoundError":
            raise
        status.notes.append("no replication configured on the lake bucket (replication_enabled=false "
                            "in this environment's tfvars)")
        return status
    status.configured = True
    status.role = config.get("Role")
    for rule in config.get("Rules", []):
        dest = rule.get("Destination", {})
        status.rules.append({
            "id": rule.get("ID"), "status": rule.get("Status"), "priority": rule.get("Priority"),
            "filter": rule.get("Filter", {}) or {"Prefix": rule.get("Prefix", "")},
            "destination": dest.get("Bucket"), "storage_class": dest.get("StorageClass"),
            "replica_kms_key": (dest.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID"),
            "delete_markers": (rule.get("DeleteMarkerReplication") or {}).get("Status"),
            "metrics": (dest.get("Metrics") or {}).get("Status", "Disabled"),
            "replication_time": (dest.get("ReplicationTime") or {}).get("Status", "Disabled"),
        })
    if ctx.env.is_local:
        status.notes.append("local: moto stores the configuration but replicates nothing and "
                            "publishes no metrics")
        return status
    status.metrics = _replication_metrics(ctx, bucket, status.rules, hours, now)
    if not status.metrics:
        status.notes.append("no replication metrics: enable `metrics` (and RTC) on the rule to get "
                            "latency and pending operations in CloudWatch")
    return status


def _replication_metrics(ctx: Any, bucket: str, rules: list[dict[str, Any]], hours: int,
                         now: datetime | None) -> list[dict[str, Any]]:
    from datetime import timedelta

    cw = ctx.aws.client("cloudwatch")
    end = now or datetime.now(timezone.utc)
    out = []
    for rule in rules:
        if rule["metrics"] != "Enabled":
            continue
        dest = (rule["destination"] or "").rsplit(":", 1)[-1]
        for metric in REPLICATION_METRICS:
            stat = "Maximum" if metric == "ReplicationLatency" else "Sum"
            resp = cw.get_metric_statistics(
                Namespace="AWS/S3", MetricName=metric, StartTime=end - timedelta(hours=hours), EndTime=end,
                Period=3600, Statistics=[stat],
                Dimensions=[{"Name": "SourceBucket", "Value": bucket},
                            {"Name": "DestinationBucket", "Value": dest},
                            {"Name": "RuleId", "Value": rule["id"]}])
            points = sorted(resp.get("Datapoints", []), key=lambda p: p["Timestamp"])
            out.append({"rule": rule["id"], "metric": metric, "statistic": stat,
                        "latest": points[-1][stat] if points else None,
                        "peak": max((p[stat] for p in points), default=None), "points": len(points)})
    return out
