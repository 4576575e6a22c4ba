"""Delta maintenance on the engine: OPTIMIZE (bin-pack, Z-ORDER, or clustering) and VACUUM.

Runs inside the `delta_maintenance` job (EMR's Python 3.9). Every Delta table under
`<lake>/<layer>/` is found by listing the layer folder through Hadoop's FileSystem (local paths,
s3:// on EMR and s3a:// alike) and keeping folders with a `_delta_log`.

Per table the job records, before and after: the files and bytes of the current snapshot (what
readers scan, from `DESCRIBE DETAIL`) and the data files and bytes in storage (every version's
files, `_delta_log` left out: what VACUUM reclaims). Facts used (delta-spark 3.3 source,
`delta/tables.py`): `optimize().executeCompaction()` clusters a liquid-clustered table and bin-packs
any other; `executeZOrderBy` is refused on clustered tables; `vacuum(hours)` below the table's
`delta.deletedFileRetentionDuration` fails unless `spark.databricks.delta.retentionDurationCheck.enabled`
is false; VACUUM ... DRY RUN lists the files it would delete.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

RETENTION_FLOOR_HOURS = 168.0  # Delta's default deletedFileRetentionDuration (7 days)
DEFAULT_LAYERS = ("silver", "gold")


class RetentionRefused(ValueError):
    """Retention below the floor without force: VACUUM could delete files a reader still needs."""


@dataclass
class TableMaintenance:
    """What maintenance did (or, with dry_run, would do) to one table."""

    table: str  # layer.name
    path: str
    action: str  # compaction | zorder(<col>) | clustering | skipped(<why>)
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int = 0
    storage_files_before: int = 0
    storage_bytes_before: int = 0
    storage_files_after: int = 0
    storage_bytes_after: int = 0
    files_to_vacuum: int = 0
    version_before: int | None = None
    version_after: int | None = None
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_retention(hours: float, force: bool = False, floor: float = RETENTION_FLOOR_HOURS) -> None:
    """Raise RetentionRefused when `hours` is below the floor and not forced."""
    if hours < floor and not force:
        raise RetentionRefused(
            f"VACUUM retention {hours:g} h is below the {floor:g} h floor: readers and time travel "
            f"within that window could lose files; pass --force to override")


def _fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), jpath


def list_tables(spark, lake: str, layers, table: str | None = None) -> list[tuple[str, str]]:
    """(layer.name, path) of the Delta tables under the given layers, or just `table` (layer.name)."""
    if table:
        layer, _, name = table.partition(".")
        if not name:
            raise ValueError(f"table must be <layer>.<name>, got {table!r}")
        path = f"{lake.rstrip('/')}/{layer}/{name}"
        return [(table, path)]
    found = []
    for layer in layers:
        root = f"{lake.rstrip('/')}/{layer}"
        fs, jroot = _fs(spark, root)
        if not fs.exists(jroot):
            continue
        for status in fs.listStatus(jroot):
            if not status.isDirectory():
                continue
            child = status.getPath()
            if fs.exists(child.suffix("/_delta_log")):
                found.append((f"{layer}.{child.getName()}", f"{root}/{child.getName()}"))
    return sorted(found)


def storage_usage(spark, path: str) -> tuple[int, int]:
    """(files, bytes) of data files under a table folder as stored: every version's files, the
    ones VACUUM may delete included; the `_delta_log` is left out."""
    fs, jpath = _fs(spark, path)
    if not fs.exists(jpath):
        return 0, 0
    total = fs.getContentSummary(jpath)
    files, size = int(total.getFileCount()), int(total.getLength())
    log = jpath.suffix("/_delta_log")
    if fs.exists(log):
        used = fs.getContentSummary(log)
        files, size = files - int(used.getFileCount()), size - int(used.getLength())
    return files, size


def _vacuum_conf(spark, retention_hours: float) -> dict:
    """Session confs for VACUUM. Its file listing runs with spark.sql.sources.
    parallelPartitionDiscovery.parallelism tasks (default 10,000: ~40 s of empty tasks on 2 local
    cores, per table); the executors' parallelism lists a table of this size as fast."""
    conf = {"spark.sql.sources.parallelPartitionDiscovery.parallelism":
            str(max(2, spark.sparkContext.defaultParallelism))}
    if retention_hours < RETENTION_FLOOR_HOURS:
        conf["spark.databricks.delta.retentionDurationCheck.enabled"] = "false"  # forced past the floor
    return conf


@contextmanager
def _sql_conf(spark, conf: dict):
    previous = {k: spark.conf.get(k, None) for k in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _detail(spark, path: str) -> dict:
    row = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    return row.asDict() if row is not None else {}


def _version(spark, path: str) -> int:
    from delta.tables import DeltaTable

    from deplat_job.pipelines.common import first_row

    return int(first_row(DeltaTable.forPath(spark, path).history(1), f"history of {path}")["version"])


def maintain_table(
    spark,
    name: str,
    path: str,
    zorder: str | None = None,
    retention_hours: float = RETENTION_FLOOR_HOURS,
    dry_run: bool = False,
    force: bool = False,
) -> TableMaintenance:
    """OPTIMIZE then VACUUM one table; with dry_run only measure and list what VACUUM would delete."""
    from delta.tables import DeltaTable

    check_retention(retention_hours, force)
    if not DeltaTable.isDeltaTable(spark, path):
        return TableMaintenance(name, path, "skipped(not a Delta table)", dry_run=dry_run)
    detail = _detail(spark, path)
    clustering = list(detail.get("clusteringColumns") or [])
    partitions = list(detail.get("partitionColumns") or [])
    result = TableMaintenance(name, path, "compaction", dry_run=dry_run,
                              files_before=int(detail.get("numFiles") or 0),
                              bytes_before=int(detail.get("sizeInBytes") or 0),
                              version_before=_version(spark, path))
    result.storage_files_before, result.storage_bytes_before = storage_usage(spark, path)
    columns = set(spark.read.format("delta").load(path).columns)
    if clustering:
        result.action = "clustering"
        if zorder:
            result.notes.append(f"clustered by {', '.join(clustering)}: Z-ORDER {zorder} not applied")
    elif zorder and zorder in columns and zorder not in partitions:
        result.action = f"zorder({zorder})"
    elif zorder:
        result.notes.append(f"Z-ORDER column {zorder} is not a data column here: bin-packed instead")

    with _sql_conf(spark, _vacuum_conf(spark, retention_hours)):
        if dry_run:
            listed = spark.sql(f"VACUUM delta.`{path}` RETAIN {retention_hours:g} HOURS DRY RUN")
            result.files_to_vacuum = listed.count()
        else:
            table = DeltaTable.forPath(spark, path)
            optimizer = table.optimize()
            if zorder and result.action.startswith("zorder"):  # the action names zorder only when given
                optimizer.executeZOrderBy(zorder)
            else:
                optimizer.executeCompaction()
            # One listing, not two: what VACUUM deleted is the drop in stored data files.
            optimized_files, _ = storage_usage(spark, path)
            table.vacuum(float(retention_hours))
            result.files_to_vacuum = optimized_files - storage_usage(spark, path)[0]

    if dry_run:
        result.files_after, result.bytes_after = result.files_before, result.bytes_before
        result.storage_files_after = result.storage_files_before
        result.storage_bytes_after = result.storage_bytes_before
        result.version_after = result.version_before
    else:
        after = _detail(spark, path)
        result.files_after = int(after.get("numFiles") or 0)
        result.bytes_after = int(after.get("sizeInBytes") or 0)
        result.storage_files_after, result.storage_bytes_after = storage_usage(spark, path)
        result.version_after = _version(spark, path)
    return result


def restore_table(spark, path: str, version: int) -> dict:
    """Delta RESTORE of the table at `path` to `version` (add/remove actions only, no data copied).

    Returns RESTORE's metrics (table_size_after_restore, num_of_files_after_restore,
    num_removed_files, num_restored_files, removed_files_size, restored_files_size).
    """
    from delta.tables import DeltaTable

    from deplat_job.pipelines.common import first_row

    metrics = first_row(DeltaTable.forPath(spark, path).restoreToVersion(int(version)), f"RESTORE of {path}")
    return {k: int(v) for k, v in metrics.asDict().items() if v is not None}
