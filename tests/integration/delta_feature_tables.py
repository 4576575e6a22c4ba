"""Reference Delta tables written by Delta Spark itself, one per table feature a foreign lake may use.

`build(spark, lake)` writes each under `<lake>/silver/<name>` and returns name -> Feature (what the
table exercises and how it was made). Their expected content is whatever Delta Spark reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Feature:
    """A reference table: its name, what it exercises, and the evidence that Delta Spark really used the
    feature: `glob:<pattern>` (a file under the table) or a substring of its `_delta_log` commits."""

    name: str
    what: str
    evidence: str

    def present(self, path: Path) -> bool:
        if self.evidence.startswith("glob:"):
            return any(path.glob(self.evidence[5:]))
        log = "".join(p.read_text() for p in sorted((path / "_delta_log").glob("*.json")))
        return self.evidence in log


def _write(df, path: str, mode: str = "append", partition_by: list[str] | None = None, **options: str) -> None:
    writer = df.coalesce(1).write.format("delta").mode(mode)
    for key, value in options.items():
        writer = writer.option(key, value)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def _create(spark, path: str, ddl: str, properties: dict[str, str] | None = None, extra: str = "") -> None:
    props = ", ".join(f"'{k}' = '{v}'" for k, v in (properties or {}).items())
    spark.sql(f"CREATE TABLE delta.`{path}` ({ddl}) USING delta {extra}"
              + (f" TBLPROPERTIES ({props})" if props else ""))


def build(spark, lake: Path) -> dict[str, Feature]:
    """Write every reference table under `lake/silver/`; name -> Feature."""
    import datetime as dt

    from delta.tables import DeltaTable

    base = lake / "silver"
    made: dict[str, Feature] = {}

    def table(name: str, what: str, evidence: str) -> str:
        made[name] = Feature(name, what, evidence)
        return str(base / name)

    path = table("odd_partition_values", "partition values with '/', '%', spaces, '=', emoji",
                 "glob:part=a%2Fb")
    rows = [(1, "a/b"), (2, "100%"), (3, "with space"), (4, "k=v"), (5, "🚀 rocket"), (6, "%2F")]
    _write(spark.createDataFrame(rows, "id INT, part STRING"), path, partition_by=["part"])

    path = table("null_partitions", "NULL partition values (string, int and date partition columns)",
                 '"ps":null')
    rows = [(1, "x", 1, dt.date(2024, 1, 1)), (2, None, None, None), (3, "x", None, dt.date(2024, 1, 2)),
            (4, None, 7, None)]
    _write(spark.createDataFrame(rows, "id INT, ps STRING, pi INT, pd DATE"), path, partition_by=["ps", "pi", "pd"])

    path = table("schema_change", "a column added by mergeSchema; old files lack it", "score")
    _write(spark.createDataFrame([(1, "a"), (2, "b")], "id INT, name STRING"), path)
    _write(spark.createDataFrame([(3, "c", 3.5)], "id INT, name STRING, score DOUBLE"), path, mergeSchema="true")

    path = table("nested_types", "struct, array, map, array of struct, struct of array",
                 '\\"type\\":\\"map\\"')
    nested = ("id INT, s STRUCT<a: INT, b: STRING>, arr ARRAY<INT>, m MAP<STRING, INT>, "
              "arr_s ARRAY<STRUCT<k: STRING, v: DOUBLE>>, s_arr STRUCT<xs: ARRAY<STRING>>")
    rows = [(1, (1, "one"), [1, 2], {"a": 1}, [("k1", 1.5)], (["x", "y"],)),
            (2, None, [], {}, [], (None,)), (3, (None, None), None, None, None, None)]
    _write(spark.createDataFrame(rows, nested), path)

    path = table("checkpoints", "a checkpoint every 2 commits, with removes (a delete) before and after it",
                 "glob:_delta_log/*.checkpoint.parquet")
    _create(spark, path, "id INT, v STRING", {"delta.checkpointInterval": "2"})
    for i in range(5):
        _write(spark.createDataFrame([(i * 2, f"v{i}"), (i * 2 + 1, f"w{i}")], "id INT, v STRING"), path)
        if i == 2:
            DeltaTable.forPath(spark, path).delete("id = 1")
    DeltaTable.forPath(spark, path).delete("id = 8")

    path = table("deletion_vectors", "rows deleted and updated through deletion vectors (no file rewrite)",
                 '"deletionVector":{')
    _create(spark, path, "id INT, v STRING", {"delta.enableDeletionVectors": "true"})
    _write(spark.createDataFrame([(i, f"v{i}") for i in range(20)], "id INT, v STRING"), path)
    DeltaTable.forPath(spark, path).delete("id % 3 = 0")
    DeltaTable.forPath(spark, path).update("id = 4", {"v": "'changed'"})

    path = table("column_mapping", "column mapping (name mode): a renamed, a dropped and a spaced column",
                 "delta.columnMapping.physicalName")
    _create(spark, path, "id INT, old_name STRING, dropped STRING, `with space` INT",
            {"delta.columnMapping.mode": "name", "delta.minReaderVersion": "2", "delta.minWriterVersion": "5"})
    _write(spark.createDataFrame([(1, "a", "x", 10), (2, "b", "y", 20)],
                                 "id INT, old_name STRING, dropped STRING, `with space` INT"), path)
    spark.sql(f"ALTER TABLE delta.`{path}` RENAME COLUMN old_name TO new_name")
    spark.sql(f"ALTER TABLE delta.`{path}` DROP COLUMN dropped")
    _write(spark.createDataFrame([(3, "c", 30)], "id INT, new_name STRING, `with space` INT"), path)

    path = table("column_mapping_features", "column mapping under a table-features writer protocol "
                 "(reader v2, writer v7, as with change data feed on): what DuckDB's Delta kernel refuses",
                 '"minReaderVersion":2,"minWriterVersion":7')
    _create(spark, path, "id INT, old_name STRING", {"delta.enableChangeDataFeed": "true"})
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')")
    _write(spark.createDataFrame([(1, "a"), (2, "b")], "id INT, old_name STRING"), path)
    spark.sql(f"ALTER TABLE delta.`{path}` RENAME COLUMN old_name TO new_name")
    _write(spark.createDataFrame([(3, "c")], "id INT, new_name STRING"), path)

    path = table("timestamp_ntz", "TIMESTAMP_NTZ values (no time zone) next to a TIMESTAMP",
                 "timestampNtz")
    rows = [(1, dt.datetime(2024, 3, 31, 1, 30), dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.timezone.utc)),
            (2, dt.datetime(1999, 12, 31, 23, 59, 59, 999999), None), (3, None, None)]
    _write(spark.createDataFrame(rows, "id INT, ntz TIMESTAMP_NTZ, ts TIMESTAMP"), path)

    path = table("change_data_feed", "change data feed on, with an update and a delete (_change_data files)",
                 "glob:_change_data/*.parquet")
    _create(spark, path, "id INT, v STRING", {"delta.enableChangeDataFeed": "true"})
    _write(spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "id INT, v STRING"), path)
    DeltaTable.forPath(spark, path).update("id = 2", {"v": "'B'"})
    DeltaTable.forPath(spark, path).delete("id = 3")

    path = table("check_constraints", "a CHECK constraint (writer feature)", "delta.constraints.positive")
    _create(spark, path, "id INT, amount DECIMAL(10,2)")
    spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT positive CHECK (amount > 0)")
    _write(spark.createDataFrame([(1, 5), (2, 7)], "id INT, amount INT")
           .selectExpr("id", "CAST(amount AS DECIMAL(10,2)) AS amount"), path)

    path = table("generated_columns", "a generated column (GENERATED ALWAYS AS)", "delta.generationExpression")
    (DeltaTable.create(spark).location(path).addColumn("id", "INT").addColumn("ts", "TIMESTAMP")
     .addColumn("day", "DATE", generatedAlwaysAs="CAST(ts AS DATE)").partitionedBy("day").execute())
    _write(spark.createDataFrame([(1, dt.datetime(2024, 5, 1, 10)), (2, dt.datetime(2024, 5, 2, 23))],
                                 "id INT, ts TIMESTAMP"), path)

    path = table("iceberg_compat", "IcebergCompatV2 (column mapping name mode), the table side of UniForm",
                 "icebergCompatV2")
    _create(spark, path, "id INT, v STRING",
            {"delta.columnMapping.mode": "name", "delta.enableIcebergCompatV2": "true"})
    _write(spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING"), path)
    path = table("type_widening", "a SMALLINT column widened to INT after rows were written",
                 "delta.typeChanges")
    _create(spark, path, "id INT, n SMALLINT", {"delta.enableTypeWidening": "true"})
    _write(spark.createDataFrame([(1, 7), (2, -3)], "id INT, n SMALLINT"), path)
    spark.sql(f"ALTER TABLE delta.`{path}` CHANGE COLUMN n TYPE INT")
    _write(spark.createDataFrame([(3, 100000)], "id INT, n INT"), path)

    path = table("v2_checkpoints", "V2 checkpoints (checkpointPolicy v2), checkpoint every 2 commits",
                 "v2Checkpoint")
    _create(spark, path, "id INT", {"delta.checkpointPolicy": "v2", "delta.checkpointInterval": "2"})
    for i in range(3):
        _write(spark.createDataFrame([(i,)], "id INT"), path)

    path = table("row_tracking", "row tracking (writer feature, domain metadata)", "rowTracking")
    _create(spark, path, "id INT", {"delta.enableRowTracking": "true"})
    _write(spark.createDataFrame([(1,), (2,)], "id INT"), path)
    return made
