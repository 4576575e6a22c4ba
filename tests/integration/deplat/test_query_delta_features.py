"""`deplat query` on Delta tables deplat did not write (issue 23 part 2): one reference table per Delta
table feature, written by Delta Spark itself (tests/integration/delta_feature_tables.py); the local
query engine must return what Delta Spark reads, or refuse naming the table and the feature (exit 2).

Which reader serves which table is asserted too (README, "Query"): DuckDB's delta extension reads
everything here but column mapping under a table-features writer protocol (its Delta kernel refuses
that protocol with "InvalidProtocolError (21)"), which delta-rs's query engine reads instead."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.delta_feature_tables import build

pytestmark = pytest.mark.spark

FEATURES = ["odd_partition_values", "null_partitions", "schema_change", "nested_types", "checkpoints",
            "deletion_vectors", "column_mapping", "column_mapping_features", "timestamp_ntz",
            "change_data_feed", "check_constraints", "generated_columns", "iceberg_compat", "type_widening",
            "v2_checkpoints", "row_tracking"]
DELTA_RS = {"column_mapping_features", "iceberg_compat"}  # DuckDB's Delta kernel refuses their protocol


@pytest.fixture(scope="module")
def feature_lake(spark, tmp_path_factory):
    lake = tmp_path_factory.mktemp("foreign_lake")
    return lake, build(spark, lake)


def _plain(value):
    """Spark's and DuckDB's Python values on one footing: Rows and structs as dicts, instants as local
    naive datetimes (PySpark hands TIMESTAMP out in the process's local time, DuckDB as aware)."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone().replace(tzinfo=None)
    return value


def _rows(rows):
    return sorted((_plain(list(r)) for r in rows), key=repr)


def test_every_feature_has_a_reference_table(feature_lake):
    lake, made = feature_lake
    assert sorted(made) == sorted(FEATURES)
    absent = [n for n, f in made.items() if not f.present(lake / "silver" / n)]
    assert absent == [], f"Delta Spark did not use the feature in {absent}"


@pytest.mark.parametrize("name", FEATURES)
def test_query_returns_what_delta_spark_reads(spark, feature_lake, name):
    from deplat.query import LocalQueryEngine

    lake, _ = feature_lake
    expected = spark.read.format("delta").load(str(lake / "silver" / name))
    want = _rows(expected.collect())
    assert want, "an empty table would prove nothing"
    result = LocalQueryEngine(lake).run(f"SELECT * FROM silver.{name}")
    assert result.columns == expected.columns
    assert _rows(result.rows) == want
    assert result.readers == {f"silver.{name}": "delta-rs" if name in DELTA_RS else "duckdb-delta"}
