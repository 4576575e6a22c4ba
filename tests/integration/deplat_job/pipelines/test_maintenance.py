"""Delta maintenance and RESTORE on the shared SparkSession: what the delta_maintenance and
delta_restore jobs do, on tables delta-spark wrote; the restore preview (delta-rs) on the same."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from deplat_job.pipelines import maintenance as m

pytestmark = pytest.mark.spark


def _appends(spark, path, batches):
    for i, ids in enumerate(batches):
        spark.createDataFrame([(n, f"r{n}", i) for n in ids], "id INT, name STRING, batch INT") \
            .coalesce(1).write.format("delta").mode("append").save(path)


def _rows(df):
    return sorted(tuple(r) for r in df.collect())


def _parquet(path):
    return {p.name for p in Path(path).glob("*.parquet")}


def test_compaction_vacuum_floor_and_forced_vacuum(spark, tmp_path):
    path = str(tmp_path / "silver" / "t")
    _appends(spark, path, [[1, 2], [3], [4, 5], [6]])
    rows = _rows(spark.read.format("delta").load(path))

    dry = m.maintain_table(spark, "silver.t", path, dry_run=True)
    assert (dry.files_before, dry.files_after, dry.version_after) == (4, 4, dry.version_before)

    done = m.maintain_table(spark, "silver.t", path)
    assert done.action == "compaction"
    assert (done.files_before, done.files_after) == (4, 1)
    from delta.tables import DeltaTable

    ops = [r["operation"] for r in DeltaTable.forPath(spark, path).history()
           .filter(f"version > {done.version_before}").orderBy("version").collect()]
    assert ops == ["OPTIMIZE", "VACUUM START", "VACUUM END"]  # Delta 3.x logs VACUUM as two commits
    assert done.version_after == done.version_before + 3
    assert done.files_to_vacuum == 0  # within 168 h nothing is deleted
    assert done.storage_files_after == done.storage_files_before + 1  # the compacted file was added
    assert _rows(spark.read.format("delta").load(path)) == rows

    with pytest.raises(m.RetentionRefused):
        m.maintain_table(spark, "silver.t", path, retention_hours=0)
    forced = m.maintain_table(spark, "silver.t", path, retention_hours=0, force=True)
    assert forced.files_to_vacuum == 4
    assert forced.storage_files_after == forced.storage_files_before - 4
    assert len(_parquet(path)) == 1
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"  # restored
    assert _rows(spark.read.format("delta").load(path)) == rows

    # the restore preview (delta-rs) refuses a version whose files that VACUUM removed
    from deplat.recovery import RestoreImpossibleError, preview_restore

    ctx = SimpleNamespace(lake_uri=str(tmp_path), env=SimpleNamespace(name="test", region="us-east-1"))
    with pytest.raises(RestoreImpossibleError, match="4 of 4 data files were vacuumed"):
        preview_restore(ctx, "silver.t", version=3)


def test_zorder_and_clustered_tables(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "gold" / "z")
    _appends(spark, path, [[5, 1], [3, 2]])
    z = m.maintain_table(spark, "gold.z", path, zorder="id")
    assert z.action == "zorder(id)" and z.files_after == 1
    op = DeltaTable.forPath(spark, path).history().filter("operation = 'OPTIMIZE'").first()
    assert "id" in op["operationParameters"]["zOrderBy"]
    assert m.maintain_table(spark, "gold.z", path, zorder="nope").notes

    clustered = str(tmp_path / "gold" / "c")
    (DeltaTable.createIfNotExists(spark).location(clustered)
     .addColumns(spark.createDataFrame([], "id INT, name STRING, batch INT").schema)
     .clusterBy("id").execute())
    _appends(spark, clustered, [[2, 1], [4, 3]])
    c = m.maintain_table(spark, "gold.c", clustered, zorder="id")
    assert c.action == "clustering" and "Z-ORDER id not applied" in c.notes[0]
    assert c.files_after < c.files_before

    found = m.list_tables(spark, str(tmp_path), ["silver", "gold"])
    assert [name for name, _ in found] == ["gold.c", "gold.z"]


def test_restore_rows_equal_the_target_version_and_copy_no_files(spark, tmp_path):
    from delta.tables import DeltaTable

    from deplat.recovery import preview_restore

    path = str(tmp_path / "silver" / "r")
    _appends(spark, path, [[1, 2, 3]])                                         # v0
    spark.createDataFrame([(9, "bad", 1)], "id INT, name STRING, batch INT") \
        .write.format("delta").mode("overwrite").save(path)                     # v1: a bad overwrite
    _appends(spark, path, [[10]])                                               # v2
    target = _rows(spark.read.format("delta").option("versionAsOf", 0).load(path))

    ctx = SimpleNamespace(lake_uri=str(tmp_path), env=SimpleNamespace(name="test", region="us-east-1"))
    preview = preview_restore(ctx, "silver.r", version=0)
    assert (preview.current.rows, preview.target.rows) == (2, 3)
    assert [e.version for e in preview.undone] == [2, 1]

    files = _parquet(path)
    metrics = m.restore_table(spark, path, 0)
    assert metrics["num_restored_files"] == 1 and metrics["num_removed_files"] == 2
    assert _rows(spark.read.format("delta").load(path)) == target
    assert _parquet(path) == files  # RESTORE commits actions only: no data file written
    assert DeltaTable.forPath(spark, path).history(1).first()["operation"] == "RESTORE"
