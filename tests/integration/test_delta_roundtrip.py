"""The Spark session factory: Delta write, MERGE, and time travel on the shared session."""

import pytest

pytestmark = pytest.mark.spark


def test_write_merge_time_travel(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "customers")
    spark.createDataFrame([(1, "ada"), (2, "bob")], "id INT, name STRING").write.format("delta").save(path)

    changes = spark.createDataFrame([(2, "bobby"), (3, "cy")], "id INT, name STRING")
    (DeltaTable.forPath(spark, path).alias("t")
     .merge(changes.alias("c"), "t.id = c.id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())

    current = {r.id: r.name for r in spark.read.format("delta").load(path).collect()}
    assert current == {1: "ada", 2: "bobby", 3: "cy"}
    v0 = {r.id: r.name for r in spark.read.format("delta").option("versionAsOf", 0).load(path).collect()}
    assert v0 == {1: "ada", 2: "bob"}
    ops = [r.operation for r in DeltaTable.forPath(spark, path).history().collect()]
    assert ops == ["MERGE", "WRITE"]


def test_session_is_sized_for_two_cores(spark):
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.conf.get("spark.ui.enabled") == "false"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
