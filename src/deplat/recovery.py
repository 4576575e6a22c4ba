"""Disaster recovery: Delta history, RESTORE to a version or time, partition reprocessing, and the
lake's S3 replication status.

Reading (history, the restore preview) reads the transaction log itself (`deplat.delta_log`):
no JVM and no table reader, so deletion vectors (which delta-rs 1.6 refuses to read) and a data
file lost from the current version do not stop it; row counts are the log's per-file numRecords
minus deletion-vector cardinalities. Writing the RESTORE commit runs
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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from deplat_job.errors import ConfigError, DeplatError, ExitCode, SafetyError

if TYPE_CHECKING:
    from deplat.core.context import Context

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
    rows: int | None  # from the log (numRecords - deletion vectors); None when a file has no stats
    files: int
    bytes: int
    note: str = ""  # why rows is None


@dataclass
class RestorePreview:
    """What a restore would do: the table now and at the target, the commits it undoes, and the data
    files the current version references that storage lacks (a restore away from them repairs it)."""

    table: str
    uri: str
    current: TableState
    target: TableState
    undone: list[HistoryEntry]
    missing_files: int = 0
    current_missing: list[str] = field(default_factory=list)

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
    rows_after: int | None
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


def table_uri(ctx: Context, name: str) -> str:
    layer, table = parse_table(name)
    return f"{ctx.lake_uri.rstrip('/')}/{layer}/{table}"


def storage_options(ctx: Context, uri: str) -> dict[str, str] | None:
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


def open_table(ctx: Context, name: str, version: int | None = None):
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


def _s3(ctx: Context, uri: str) -> Any:
    return ctx.aws.client("s3") if urlparse(uri).scheme in ("s3", "s3a") else None


def _commits(ctx: Context, name: str) -> dict[int, dict[str, Any]]:
    """version -> commitInfo from the table's log (delta_log: no table reader, so no reader feature
    such as deletion vectors and no lost data file can stop it)."""
    from deplat.delta_log import commit_infos

    uri = table_uri(ctx, name)
    commits = commit_infos(uri, _s3(ctx, uri))
    if not commits:
        raise ConfigError(f"no Delta table {name} at {uri}",
                          "check the name (`deplat query` lists tables) and that its pipeline ran")
    return commits


def history(ctx: Context, name: str, limit: int | None = None) -> list[HistoryEntry]:
    """The table's commits, newest first (version, time, operation, parameters, metrics), read from
    its log's commitInfo actions."""
    commits = _commits(ctx, name)
    versions = sorted(commits, reverse=True)[:limit]
    return [_entry({**commits[v], "version": v}) for v in versions]


# --- restore ----------------------------------------------------------------------------------

def _state(snap: Any, commits: dict[int, dict[str, Any]]) -> TableState:
    """A version's rows, files and bytes from its log: rows are the files' numRecords statistics
    (what the writer counted into each file) minus their deletion vectors' cardinality."""
    stamp = _iso(commits.get(snap.version, {}).get("timestamp"))
    note = f"{snap.unstated} of {len(snap.files)} files have no row count in the log" if snap.rows is None else ""
    return TableState(snap.version, stamp, snap.rows, len(snap.files), snap.bytes, note)


def existing(ctx: Context, uris: list[str]) -> set[str]:
    """Those of these data-file URIs that storage holds (a local lake, or one S3 listing per prefix)."""
    if not uris:
        return set()
    scheme = urlparse(uris[0]).scheme
    if scheme in ("", "file"):
        return {u for u in uris if os.path.exists(urlparse(u).path if scheme else u)}
    s3 = ctx.aws.client("s3")
    bucket = urlparse(uris[0]).netloc
    keys: set[str] = set()
    prefix = os.path.commonpath([urlparse(u).path.lstrip("/") for u in uris])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return {u for u in uris if urlparse(u).path.lstrip("/") in keys}


def snapshot(ctx: Context, name: str, version: int | None = None) -> Any:
    """The delta_log.Snapshot of `layer.table` (at `version`); ConfigError if there is no Delta table."""
    from deplat.delta_log import read_snapshot

    uri = table_uri(ctx, name)
    try:
        return read_snapshot(uri, version, _s3(ctx, uri))
    except ConfigError as exc:
        if exc.message.startswith("no Delta table"):
            raise ConfigError(f"no Delta table {name} at {uri}",
                              "check the name (`deplat query` lists tables) and that its pipeline ran") from None
        raise


def missing_data_files(ctx: Context, name: str, version: int | None = None) -> list[str]:
    """Data files (URIs) that `name`'s version (default: current) references but storage lacks."""
    from deplat.delta_log import missing_files

    return missing_files(snapshot(ctx, name, version), lambda uris: existing(ctx, uris))


@dataclass
class LostFiles:
    """Data files a table's current version references that storage lacks."""

    table: str
    version: int
    uris: list[str]

    def describe(self, shown: int = 3) -> str:
        names = ", ".join(self.uris[:shown]) + (f" (+{len(self.uris) - shown} more)" if len(self.uris) > shown else "")
        return f"{self.table} version {self.version}: {len(self.uris)} missing: {names}"


LOST_FILE_FIX = ("`deplat dr restore <table> --version N` to a version that does not need them (the preview "
                 "lists them), or `deplat dr fsck <table> --dry-run` then `--yes` (FSCK REPAIR TABLE drops "
                 "their entries: their rows are gone)")


class LostDataFilesError(DeplatError):
    """Data files a table's Delta log references are gone from storage (exit 3, a storage fault):
    names the table, its version and each file, and the two repairs."""

    exit_code = ExitCode.INFRA


def lost_files_error(lost: list[LostFiles]) -> LostDataFilesError:
    return LostDataFilesError("data files missing from storage: " + "; ".join(x.describe() for x in lost),
                              LOST_FILE_FIX)


def require_data_files(ctx: Context, tables: list[str]) -> None:
    """Raise LostDataFilesError when a table's current version references a file storage lacks; the
    commands that read or rewrite tables (dq check, the gate, optimize) ask before a job meets it."""
    lost = []
    for name in dict.fromkeys(tables):
        try:
            lost += lost_data_files(ctx, [name])
        except ConfigError:
            continue  # no such table yet: the command itself says so
    if lost:
        raise lost_files_error(lost)


def lost_files_in_folders(tables: dict[str, str]) -> list[LostFiles]:
    """lost_data_files for local table folders (name -> folder), for callers without a Context."""
    from deplat.delta_log import missing_files, read_snapshot

    out = []
    for name, folder in tables.items():
        snap = read_snapshot(str(folder))
        lost = missing_files(snap, lambda uris: {u for u in uris if os.path.exists(u)})
        if lost:
            out.append(LostFiles(name, snap.version, lost))
    return out


def lake_tables(ctx: Context, layers: tuple[str, ...] = LAYERS) -> list[str]:
    """`layer.table` of every Delta table in the lake (a folder with `_delta_log/`), local or S3."""
    lake = ctx.lake_uri.rstrip("/")
    found = []
    if urlparse(lake).scheme in ("s3", "s3a"):
        s3 = ctx.aws.client("s3")
        bucket, root = urlparse(lake).netloc, urlparse(lake).path.strip("/")
        for layer in layers:
            prefix = f"{root}/{layer}/".lstrip("/")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                for sub in page.get("CommonPrefixes", []):
                    name = sub["Prefix"][len(prefix):].strip("/")
                    log = s3.list_objects_v2(Bucket=bucket, Prefix=f"{sub['Prefix']}_delta_log/", MaxKeys=1)
                    if log.get("KeyCount"):
                        found.append(f"{layer}.{name}")
        return sorted(found)
    for layer in layers:
        root = os.path.join(lake, layer)
        if os.path.isdir(root):
            found += [f"{layer}.{n}" for n in sorted(os.listdir(root))
                      if os.path.isdir(os.path.join(root, n, "_delta_log"))]
    return found


def lost_data_files(ctx: Context, tables: list[str] | None = None) -> list[LostFiles]:
    """For every table of the lake (or `tables`), the data files its current version's log
    references that storage lacks; tables with none are left out. Read from the logs and one
    listing per table: no JVM, nothing changed."""
    from deplat.delta_log import missing_files

    out = []
    for name in lake_tables(ctx) if tables is None else tables:
        snap = snapshot(ctx, name)
        lost = missing_files(snap, lambda uris: existing(ctx, uris))
        if lost:
            out.append(LostFiles(name, snap.version, lost))
    return out


@dataclass
class FsckResult:
    table: str
    uri: str
    version_before: int
    version_after: int
    missing: list[str]
    rows_lost: int | None  # what the log says the missing files held (numRecords - deleted)
    dry_run: bool
    repaired: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fsck(ctx: Context, name: str, yes: bool = False, dry_run: bool = False) -> FsckResult:
    """FSCK REPAIR TABLE: a commit that removes the current version's entries for data files storage
    lacks, so the table reads again without the rows those files held (they are gone; a restore to
    a version without them, or the files recovered from S3 versions / the replica, keeps them).

    Delta Spark 3.x has no FSCK (delta-io/delta#3436 is open); delta-rs's `DeltaTable.repair` is the
    Delta FSCK operation and commits from here, no job. SafetyError (exit 7) without `yes` when there
    is something to repair; nothing is committed with `dry_run` or when nothing is missing.
    """
    from deplat.delta_log import missing_files

    snap = snapshot(ctx, name)
    lost = missing_files(snap, lambda uris: existing(ctx, uris))
    lost_set = set(lost)
    counts = [f.rows for f in snap.files if snap.file_uri(f) in lost_set]
    rows = None if any(c is None for c in counts) else sum(counts)
    result = FsckResult(name, table_uri(ctx, name), snap.version, snap.version, lost, rows, dry_run, False)
    if dry_run or not lost:
        return result
    if not yes:
        held = "an unknown number of" if rows is None else str(rows)
        raise SafetyError(f"FSCK on {name} drops {len(lost)} missing data file(s) from version {snap.version} "
                          f"({held} rows): {', '.join(lost[:3])}{' ...' if len(lost) > 3 else ''}",
                          "run with --dry-run to review, then rerun with --yes")
    try:
        table = open_table(ctx, name)
    except DeplatError:
        raise
    except Exception as exc:  # noqa: BLE001 - delta-rs refuses a reader/writer feature Delta Spark enabled
        raise ConfigError(f"FSCK cannot open {name}: {type(exc).__name__}: {exc}",
                          f"restore a version without the missing files instead (`deplat dr restore {name} "
                          "--version N`)") from exc
    table.repair(dry_run=False)
    result.version_after, result.repaired = int(snapshot(ctx, name).version), True
    return result


def _resolve_version(commits: dict[int, dict[str, Any]], version: int | None, timestamp: str | None) -> int:
    """The target version: `version`, or the last commit at or before `timestamp` (Delta's rule)."""
    if (version is None) == (timestamp is None):
        raise ConfigError("give exactly one of --version N or --timestamp T")
    entries = [{**info, "version": v} for v, info in commits.items()]
    if version is not None:
        versions = {int(h["version"]) for h in entries}
        if version not in versions:
            raise ConfigError(f"version {version} is not in the table's history",
                              f"available: {min(versions)}..{max(versions)} (`deplat dr history`)")
        return version
    try:
        when = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
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


def preview_restore(ctx: Context, name: str, version: int | None = None, timestamp: str | None = None
                    ) -> RestorePreview:
    """Rows and files now vs at the target, the commits a restore would undo, missing files.

    Everything comes from the Delta log (delta_log), never from a scan: the preview needs no data
    file and no reader feature, so it works on a table with deletion vectors and on a current
    version that lost a data file (those files are listed in `current_missing`: the restore drops
    them). Raises RestoreImpossibleError when VACUUM already deleted files the target version needs,
    or when the log no longer covers it.
    """
    from deplat.delta_log import LogUnreadableError

    commits = _commits(ctx, name)
    current = snapshot(ctx, name)
    target_version = _resolve_version(commits, version, timestamp)
    undone = [_entry({**commits[v], "version": v}) for v in sorted(commits, reverse=True) if v > target_version]
    try:
        old = snapshot(ctx, name, target_version)
    except LogUnreadableError as exc:
        raise RestoreImpossibleError(f"{name} version {target_version} can no longer be read: {exc.message}",
                                     "its log entries were cleaned up; pick a newer version") from exc
    old_uris = [old.file_uri(f) for f in old.files]
    missing = len(old_uris) - len(existing(ctx, old_uris))
    if missing:
        vacuums = [e for e in undone if e.operation.startswith("VACUUM")]
        when = f" (VACUUM at {vacuums[-1].timestamp})" if vacuums else ""
        raise RestoreImpossibleError(
            f"{name} version {target_version}: {missing} of {len(old_uris)} data files were "
            f"vacuumed{when}; RESTORE would produce a table with missing data",
            "restore a version newer than the last VACUUM's retention window, or recover the files "
            "from S3 object versions / the replica bucket first")
    from deplat.delta_log import missing_files

    lost_now = missing_files(current, lambda uris: existing(ctx, uris))
    return RestorePreview(name, table_uri(ctx, name), _state(current, commits), _state(old, commits), undone,
                          missing, lost_now)


def restore(ctx: Context, name: str, version: int | None = None, timestamp: str | None = None,
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
    after = _state(snapshot(ctx, name), _commits(ctx, name))
    return RestoreResult(preview, run_id, after.version, after.rows, after.files)


# --- reprocess --------------------------------------------------------------------------------

# The pipelines whose every step is declared `partitioned` (registry.Step; runs._require_partition_support
# refuses the others); tests/unit/deplat/cli/test_cli_oncall_flags.py keeps this list equal to the registry.
REPROCESSABLE = ("fx",)


def reprocess(ctx: Context, pipeline: str, partition_date: str, run_service: Any = None):
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


def replication_status(ctx: Context, hours: int = 24, now: datetime | None = None) -> ReplicationStatus:
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


def _replication_metrics(ctx: Context, bucket: str, rules: list[dict[str, Any]], hours: int,
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
