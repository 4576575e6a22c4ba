"""Real PostgreSQL -> logical decoding -> DMS files -> bronze -> silver equals a SELECT from PostgreSQL.

Each test gets its own schema and replication slot (dropped afterwards: an unconsumed slot keeps WAL).
"""

import csv
import re
import uuid
from pathlib import Path

import pytest

from deplat.local.dms_capture import dms_capture, write_key_snapshot
from deplat.local.rds import conninfo, drop_slot, ensure_database, ensure_slot
from deplat_job.pipelines import dms
from deplat_job.pipelines.common import table_path
from deplat_job.pipelines.source_specs import Column, DmsTable
from deplat_job.sources.dms import DMS_NULL, keys_dir, landing_root

pytestmark = pytest.mark.integration


@pytest.fixture
def pg(local_stack):
    import psycopg

    settings = local_stack.settings
    ensure_database(settings)
    schema = f"it_{uuid.uuid4().hex[:8]}"
    slot = f"{schema}_slot"
    conn = psycopg.connect(conninfo(settings), autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"""CREATE TABLE {schema}.items (
        item_id integer PRIMARY KEY, name text, price numeric(10,2), created_at timestamptz NOT NULL)""")
    conn.execute(f"INSERT INTO {schema}.items SELECT g, 'item ' || g, g * 1.25, "
                 f"timestamptz '2024-01-01 00:00:00+00' + g * interval '1 day' FROM generate_series(1, 5) g")
    ensure_slot(settings, slot)
    columns = (Column("item_id", "int", "item_id"), Column("name", "string", "name"),
               Column("price", "decimal(10,2)", "price"), Column("created_at", "timestamp", "created_at"))
    table = DmsTable(schema, "items", ("item_id",), columns,
                     partition_column="created_date", partition_source="created_at")
    yield conn, settings, slot, table
    drop_slot(settings, slot)
    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def _rows(path: Path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_capture_writes_full_load_and_ordered_cdc(pg, tmp_path):
    conn, settings, slot, table = pg
    qualified = table.qualified
    landing = Path(landing_root(str(tmp_path)))
    loaded = dms_capture(landing, settings, slot=slot, tables=[qualified], full=True)
    assert loaded.full_load_rows == {qualified: 5}
    load_file = landing / table.schema / "items" / "LOAD00000001.csv"
    load = _rows(load_file)
    assert [r["Op"] for r in load] == ["I"] * 5 and [r["item_id"] for r in load] == ["1", "2", "3", "4", "5"]

    conn.execute(f"INSERT INTO {qualified} VALUES (6, 'six', 6.00, '2024-02-01 00:00:00+00')")
    conn.execute(f"UPDATE {qualified} SET price = 99.99 WHERE item_id = 2")
    conn.execute(f"DELETE FROM {qualified} WHERE item_id = 3")
    conn.execute(f"INSERT INTO {qualified} VALUES (3, 'three again', 3.33, '2024-03-01 00:00:00+00')")
    conn.execute(f"UPDATE {qualified} SET name = NULL WHERE item_id = 6")
    captured = dms_capture(landing, settings, slot=slot, tables=[qualified])
    assert captured.changes == {qualified: {"I": 2, "U": 2, "D": 1}}
    [cdc_file] = [Path(f) for f in captured.files]
    assert re.fullmatch(r"\d{8}-\d{12}\.csv", cdc_file.name)
    cdc = _rows(cdc_file)
    ops = [(r["Op"], r["item_id"]) for r in cdc]
    assert ops == [("I", "6"), ("U", "2"), ("D", "3"), ("I", "3"), ("U", "6")]
    stamps = [r["_dms_ts"] for r in cdc]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5  # five transactions, five commit times
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", s) for s in stamps)
    assert cdc[4]["name"] == DMS_NULL and cdc[1]["price"] == "99.99"  # NULL is the explicit marker

    again = dms_capture(landing, settings, slot=slot, tables=[qualified], full=True)
    assert again.files == [] and again.full_load_rows == {}  # slot advanced; table already loaded


@pytest.mark.spark
def test_applied_changes_equal_the_source_table(pg, spark, tmp_path):
    conn, settings, slot, table = pg
    qualified, lake = table.qualified, str(tmp_path)
    landing = Path(landing_root(lake))
    dms_capture(landing, settings, slot=slot, tables=[qualified], full=True)
    conn.execute(f"UPDATE {qualified} SET price = price + 1 WHERE item_id <= 2")
    conn.execute(f"DELETE FROM {qualified} WHERE item_id = 4")
    dms_capture(landing, settings, slot=slot, tables=[qualified])
    with conn.transaction():  # one transaction: D then I of the same key, ordered by sequence
        conn.execute(f"DELETE FROM {qualified} WHERE item_id = 5")
        conn.execute(f"INSERT INTO {qualified} VALUES (5, 'five again', 5.55, '2024-05-05 00:00:00+00')")
    conn.execute(f"UPDATE {qualified} SET item_id = 50 WHERE item_id = 1")  # key change: D 1 + U 50
    conn.execute(f"UPDATE {qualified} SET name = '' WHERE item_id = 2")  # '' and NULL stay apart
    conn.execute(f"UPDATE {qualified} SET name = NULL WHERE item_id = 3")
    dms_capture(landing, settings, slot=slot, tables=[qualified])

    assert dms.ingest_table(spark, lake, table, "r1").files == 3
    assert dms.ingest_table(spark, lake, table, "r2").written == 0
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", table.bronze_table))
    result = dms.current_rows(bronze, table)
    assert result.rejected.count() == 0

    from pyspark.sql import functions as F

    current = result.current.withColumn("created", F.date_format("created_at", "yyyy-MM-dd'T'HH:mm:ss"))
    got = sorted((r["item_id"], r["name"], str(r["price"]), r["created"]) for r in current.collect())
    source = conn.execute(
        "SELECT item_id, name, price::text, "
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"FROM {qualified} ORDER BY item_id").fetchall()
    assert got == sorted(tuple(r) for r in source)
    assert {r[0] for r in got} == {2, 3, 5, 50}
    names = {r[0]: r[1] for r in got}
    assert names[2] == "" and names[3] is None


@pytest.mark.spark
def test_key_reconciliation_removes_the_ghost_of_a_key_change_delivered_without_delete(pg, spark, tmp_path):
    conn, settings, slot, table = pg
    qualified, lake = table.qualified, str(tmp_path)
    landing = Path(landing_root(lake))
    dms_capture(landing, settings, slot=slot, tables=[qualified], full=True)
    conn.execute(f"UPDATE {qualified} SET item_id = 70 WHERE item_id = 1")
    [cdc] = [Path(f) for f in dms_capture(landing, settings, slot=slot, tables=[qualified]).files]
    # DMS's S3 target has no before-image: the key change arrives as an update of the new key only.
    lines = cdc.read_text().splitlines(keepends=True)
    cdc.write_text("".join(line for line in lines if not line.startswith("D,")))
    dms.ingest_table(spark, lake, table, "r1")
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", table.bronze_table))
    assert 1 in {r["item_id"] for r in dms.current_rows(bronze, table).current.collect()}  # the ghost

    path, n, _, _ = write_key_snapshot(conn, Path(keys_dir(lake, table.schema, table.table)), qualified)
    snapshot = dms.key_snapshot(spark, lake, table)
    result = dms.current_rows(bronze, table, snapshot)
    source = {r[0] for r in conn.execute(f"SELECT item_id FROM {qualified}").fetchall()}
    assert {r["item_id"] for r in result.current.collect()} == source and n == len(source)
    assert dms.count_fates(result.classified)[dms.GHOST] == 1 and snapshot.file == path.name
