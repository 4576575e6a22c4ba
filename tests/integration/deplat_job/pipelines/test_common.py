"""deplat's shared silver writer on the session factory's Delta: a full write, then a partition
reprocess that must move and delete keys across partitions, with counts from the Delta commits."""

import pytest

pytestmark = pytest.mark.spark


def test_write_silver_full_then_partition_reprocess_by_key(spark, tmp_path):
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from deplat_job.pipelines.common import write_silver

    path = str(tmp_path / "silver")
    schema = "id INT, name STRING, day STRING"

    def frame(rows):
        return spark.createDataFrame(rows, schema).withColumn("day", F.to_date("day"))

    first = write_silver(frame([(1, "ada", "2024-01-01"), (2, "bob", "2024-01-02"), (3, "cy", "2024-01-02")]),
                         path, "day")
    assert (first.written, first.removed) == (3, 0)

    # Now current: 1 moved to 01-02, 2 deleted at the source, 3 unchanged, 4 new on 01-02.
    current = frame([(1, "ada", "2024-01-02"), (3, "cy", "2024-01-02"), (4, "dee", "2024-01-02")])
    again = write_silver(current, path, "day", partition_date="2024-01-02", key=("id",))
    rows = sorted((r.id, r.name, str(r.day)) for r in spark.read.format("delta").load(path).collect())
    assert rows == [(1, "ada", "2024-01-02"), (3, "cy", "2024-01-02"), (4, "dee", "2024-01-02")]
    assert (again.written, again.removed) == (3, 1)  # 1 moved + 3 rewritten + 4 inserted; 2 deleted

    table = DeltaTable.forPath(spark, path)
    assert [r.operation for r in table.history().collect()] == ["MERGE", "WRITE"]
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(path).count()
    assert v0 == 3  # the pre-reprocess version stays readable (dr restore relies on it)

    # Without a key, a reprocess of a date whose rows moved would keep the stale copy: a plain
    # replaceWhere touches only that partition (the old behaviour this writer replaces).
    stale = str(tmp_path / "stale")
    write_silver(frame([(5, "eve", "2024-01-01")]), stale, "day")
    write_silver(frame([(5, "eve", "2024-01-02")]), stale, "day", partition_date="2024-01-02")
    assert spark.read.format("delta").load(stale).filter("id = 5").count() == 2


def test_silver_is_unpartitioned_with_date_ranged_files_and_an_old_day_layout_is_rewritten(spark, tmp_path):
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from deplat_job.pipelines.common import write_silver

    days = spark.range(300).select(F.col("id").cast("int").alias("id"),
                                   F.date_add(F.lit("2024-01-01").cast("date"), F.col("id").cast("int")).alias("day"))
    path = str(tmp_path / "old")
    days.write.format("delta").partitionBy("day").save(path)  # the layout before: a folder per day
    assert len(DeltaTable.forPath(spark, path).detail().first().partitionColumns) == 1

    assert write_silver(days, path, "day").written == 300
    detail = DeltaTable.forPath(spark, path).detail().first()
    assert detail.partitionColumns == [] and detail.numFiles <= 4  # was 300 one-row files
    # Each file covers its own date range, so a one-date read or rewrite skips the others.
    ranges = (spark.read.format("delta").load(path).groupBy(F.input_file_name().alias("f"))
              .agg(F.min("day").alias("lo"), F.max("day").alias("hi")).orderBy("lo").collect())
    assert all(a.hi < b.lo for a, b in zip(ranges, ranges[1:]))

    one = write_silver(days.filter("id = 7"), path, "day", partition_date="2024-01-08")
    assert one.written == 1 and spark.read.format("delta").load(path).count() == 300


def test_session_is_sized_for_two_cores(spark):
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.conf.get("spark.ui.enabled") == "false"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
