"""DMS source fidelity: the shared cases (../shared/cases/dms-*) with their right answers, and one more
input of each kind: per-file headers, Op-less full loads, commit order, NULL vs '', untypeable
values, ghost keys after a primary-key change, and a partition reprocess after a row moved."""

from __future__ import annotations

import shutil
from pathlib import Path

from deplat_job.pipelines import dms
from deplat_job.pipelines.common import SilverItem, bronze_to_silver, table_path
from deplat_job.pipelines.source_specs import DMS_TABLES

CASES = Path(__file__).parents[3] / "data" / "cases"  # a copy of ../shared/cases (inputs + READMEs)
ORDERS = DMS_TABLES["app.orders"]
HEADER = "Op,_dms_ts,_dms_seq,order_id,customer_id,status,amount,order_date,updated_at"


def _case(name: str) -> Path:
    return CASES / name


def _land(lake: Path, folder: Path, only: str | None = None) -> None:
    target = lake / "_landing" / "dms"
    for f in sorted(folder.rglob("*.csv")):
        if only is None or f.name == only:
            dest = target / f.relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dest)


def _write(lake: Path, name: str, text: str) -> None:
    path = lake / "_landing" / "dms" / "app" / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _silver(spark, lake: Path, snapshot=None):
    dms.ingest_table(spark, str(lake), ORDERS, "b1")
    bronze = spark.read.format("delta").load(table_path(str(lake), "bronze", ORDERS.bronze_table))
    return dms.current_rows(bronze, ORDERS, snapshot)


def _rows(result):
    return {r["order_id"]: r.asDict() for r in result.current.collect()}


def test_case_header_drift_maps_each_file_by_its_own_header(spark, tmp_path):
    _land(tmp_path, _case("dms-header-drift") / "landing")
    result = _silver(spark, tmp_path)
    rows = _rows(result)
    assert set(rows) == {1, 2}
    assert str(rows[1]["amount"]) == "20.00" and str(rows[2]["amount"]) == "30.00"
    # The CDC file has no status: the source row has none now, so NULL (not the stale "NEW").
    assert rows[1]["status"] is None and rows[2]["status"] == "NEW"
    assert str(rows[1]["order_date"]) == "2025-03-01" and rows[1]["customer_id"] == 7
    assert result.rejected.count() == 0


def test_case_full_load_without_op_loads_as_inserts(spark, tmp_path):
    _land(tmp_path, _case("dms-header-drift") / "landing_b")
    rows = _rows(_silver(spark, tmp_path))
    assert {k: (r["status"], str(r["amount"])) for k, r in rows.items()} == {1: ("NEW", "12.00"),
                                                                            2: ("NEW", "30.00")}


def test_case_pk_update_without_delete_leaves_no_ghost_after_reconciliation(spark, tmp_path):
    _land(tmp_path, _case("dms-pk-update-no-delete") / "landing")
    assert set(_rows(_silver(spark, tmp_path))) == {30000, 30077}  # without reconciliation: both
    keys = tmp_path / "_landing" / "dms_keys" / "app" / "orders"
    keys.mkdir(parents=True)
    (keys / "KEYS-20250302-130000000000-00000000000300000000000000000000000.csv").write_text("order_id\n30077\n")
    snapshot = dms.key_snapshot(spark, str(tmp_path), ORDERS)
    result = _silver(spark, tmp_path, snapshot)
    assert set(_rows(result)) == {30077}
    assert dms.count_fates(result.classified)[dms.GHOST] == 1


def test_ghost_removal_keeps_a_key_changed_after_the_snapshot(spark, tmp_path):
    # Own input: the snapshot predates key 30000's last change, so its absence proves nothing.
    _land(tmp_path, _case("dms-pk-update-no-delete") / "landing")
    keys = tmp_path / "_landing" / "dms_keys" / "app" / "orders"
    keys.mkdir(parents=True)
    (keys / "KEYS-20250301-110000000000-00000000000150000000000000000000000.csv").write_text("order_id\n")
    result = _silver(spark, tmp_path, dms.key_snapshot(spark, str(tmp_path), ORDERS))
    assert set(_rows(result)) == {30000, 30077}
    assert dms.count_fates(result.classified)[dms.GHOST] == 0


def _reprocess(spark, lake: Path, partition_date: str | None):
    item = SilverItem(ORDERS.qualified, ORDERS.bronze_table, ORDERS.silver_table, ORDERS.partition_column,
                      ORDERS.key, lambda bronze: dms.current_rows(bronze, ORDERS))
    dms.ingest_table(spark, str(lake), ORDERS, "b")
    totals, _ = bronze_to_silver(spark, str(lake), dms.SOURCE, [item], "b", partition_date)
    silver = spark.read.format("delta").load(table_path(str(lake), "silver", ORDERS.silver_table))
    return totals, sorted((r["order_id"], str(r["order_date"])) for r in silver.collect())


def test_case_partition_move_then_reprocess_keeps_one_copy(spark, tmp_path):
    case = _case("dms-partition-move") / "landing"
    _land(tmp_path, case, only="LOAD00000001.csv")
    _, first = _reprocess(spark, tmp_path, None)
    assert first == [(5001, "2025-01-05"), (5002, "2025-01-06")]
    _land(tmp_path, case)
    totals, silver = _reprocess(spark, tmp_path, "2025-01-06")
    assert silver == [(5001, "2025-01-06"), (5002, "2025-01-06")]
    assert totals["read"] == totals["written"] + totals["rejected"] + totals["skipped"]


def test_partition_reprocess_removes_a_key_deleted_at_the_source(spark, tmp_path):
    # Own input: a delete lands, then only the deleted row's date is reprocessed.
    _land(tmp_path, _case("dms-partition-move") / "landing", only="LOAD00000001.csv")
    _reprocess(spark, tmp_path, None)
    _write(tmp_path, "20250107-120000000000.csv",
           f"{HEADER}\nD,2025-01-07 12:00:00.000000,00000000000300000000000000000000000,5001,,,,,\n")
    _, silver = _reprocess(spark, tmp_path, "2025-01-05")
    assert silver == [(5002, "2025-01-06")]


def test_added_column_is_kept_and_reported_and_null_differs_from_empty(spark, tmp_path):
    _write(tmp_path, "LOAD00000001.csv",
           f"{HEADER}\nI,2025-03-01 10:00:00.000000,00000000000100000000000000000000000,1,7,\\N,1.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n"
           "I,2025-03-01 10:00:00.000000,00000000000100000000000000000000001,2,7,,2.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n")
    _write(tmp_path, "20250302-120000000000.csv",
           f"{HEADER},channel\nI,2025-03-02 12:00:00.000000,00000000000200000000000000000000000,3,7,\"\","
           "3.00,2025-03-02,2025-03-02 12:00:00+00,web\n")
    result = _silver(spark, tmp_path)
    rows = _rows(result)
    assert rows[1]["status"] is None and rows[2]["status"] == "" and rows[3]["status"] == ""
    assert result.new_columns == ["channel"] and rows[3]["channel"] == "web" and rows[1]["channel"] is None


def test_untypeable_latest_change_holds_the_key_back_and_special_values_map(spark, tmp_path):
    _write(tmp_path, "LOAD00000001.csv",
           f"{HEADER}\nI,2025-03-01 10:00:00.000000,00000000000100000000000000000000000,1,7,NEW,1.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n"
           "I,2025-03-01 10:00:00.000000,00000000000100000000000000000000001,2,7,NEW,2.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n")
    # PostgreSQL allows 'infinity' and BC dates; Spark's cast would read '0044-03-15 BC' as 44 AD.
    _write(tmp_path, "20250302-120000000000.csv",
           f"{HEADER}\nU,2025-03-02 12:00:00.000000,00000000000200000000000000000000000,1,7,PAID,1.00,"
           "0044-03-15 BC,2025-03-02 12:00:00+00\n"
           "U,2025-03-02 12:00:00.000000,00000000000200000000000000000000001,2,7,PAID,2.00,"
           "infinity,2025-03-02 12:00:00+00\n")
    result = _silver(spark, tmp_path)
    rows = _rows(result)
    assert set(rows) == {2}  # order 1's older version does not come back as current
    assert str(rows[2]["order_date"]) == "9999-12-31" and rows[2]["status"] == "PAID"
    [bad] = result.rejected.collect()
    assert bad["order_id"] == "1" and "0044-03-15 BC" in bad["_error_reason"]
    assert dms.count_fates(result.classified) == {"current": 1, "rejected": 1, "superseded": 2,
                                                  "deleted": 0, "ghost": 0}


def test_commit_order_wins_over_timestamps_across_full_load_and_cdc(spark, tmp_path):
    # A CDC change committed before the full-load snapshot (lower sequence) arrives in a later file
    # with a later-looking timestamp: the full load's row, committed later, stays current.
    _write(tmp_path, "LOAD00000001.csv",
           f"{HEADER}\nI,2025-03-01 10:00:00.000000,00000000000500000000000000000000000,1,7,FINAL,9.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n")
    _write(tmp_path, "20250301-100000000000.csv",
           f"{HEADER}\nU,2025-03-01 10:00:00.500000,00000000000400000000000000000000000,1,7,OLDER,1.00,"
           "2025-03-01,2025-03-01 09:00:00+00\n")
    assert _rows(_silver(spark, tmp_path))[1]["status"] == "FINAL"


def test_case_full_load_with_empty_sequence_orders_before_every_cdc_change(spark, tmp_path):
    _land(tmp_path, _case("dms-full-load-empty-seq") / "landing")
    result = _silver(spark, tmp_path)
    rows = _rows(result)
    assert {k: (r["status"], str(r["amount"])) for k, r in rows.items()} == {
        1: ("PAID", "12.00"), 3: ("SHIPPED", "33.00"), 4: ("NEW", "40.00"), 5: ("NEW", "50.00")}
    assert result.rejected.count() == 0
    assert dms.count_fates(result.classified) == {"current": 4, "rejected": 0, "superseded": 4,
                                                  "deleted": 1, "ghost": 0}


def test_empty_sequence_in_a_cdc_change_is_still_rejected(spark, tmp_path):
    # Only full-load rows may lack a sequence: a CDC change without one cannot be put in commit order.
    _write(tmp_path, "LOAD00000001.csv",
           f"{HEADER}\nI,2025-03-01 10:05:00.000000,,1,7,NEW,1.00,2025-03-01,2025-03-01 10:00:00+00\n")
    _write(tmp_path, "20250301-110000000000.csv",
           f"{HEADER}\nU,2025-03-01 11:00:00.000000,,1,7,PAID,1.00,2025-03-01,2025-03-01 11:00:00+00\n")
    result = _silver(spark, tmp_path)
    [bad] = result.rejected.collect()
    assert bad["status"] == "PAID" and "unparsable _dms_seq" in bad["_error_reason"]


def test_source_type_widened_is_reported_as_drift_with_the_keys_held_back(spark, tmp_path):
    # amount numeric(12,2) -> numeric(14,4) at the source: PostgreSQL now writes four decimals.
    # 30.5000 still fits decimal(12,2) exactly; 12.3456 does not and holds order 1 back.
    _write(tmp_path, "LOAD00000001.csv",
           f"{HEADER}\nI,2025-03-01 10:00:00.000000,00000000000100000000000000000000000,1,7,NEW,12.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n"
           "I,2025-03-01 10:00:00.000000,00000000000100000000000000000000001,2,7,NEW,30.00,"
           "2025-03-01,2025-03-01 10:00:00+00\n")
    _write(tmp_path, "20250302-120000000000.csv",
           f"{HEADER}\nU,2025-03-02 12:00:00.000000,00000000000200000000000000000000000,1,7,PAID,12.3456,"
           "2025-03-01,2025-03-02 12:00:00+00\n"
           "U,2025-03-02 12:00:00.000000,00000000000200000000000000000000001,2,7,PAID,30.5000,"
           "2025-03-01,2025-03-02 12:00:00+00\n")
    result = _silver(spark, tmp_path)
    assert {k: str(r["amount"]) for k, r in _rows(result).items()} == {2: "30.50"}
    assert result.report()["schema_drift"] == [
        {"column": "amount", "declared": "decimal(12,2)", "needed": "decimal(14,4)", "rejected_changes": 1,
         "held_back": 1, "held_back_keys": ["1"]}]
    assert dms.drift_note("app.orders", result.report()["schema_drift"]) == (
        "schema drift in app.orders: amount values need decimal(14,4) (declared decimal(12,2)); "
        "1 key held back from silver: 1")
    # The state the job keeps for `deplat catalog diff` (written by Spark, read by delta-rs).
    from deplat.catalog import source_drift

    state = table_path(str(tmp_path), "_state", dms.DRIFT_STATE.format(table=ORDERS.silver_table))
    dms.write_drift_state(spark, str(tmp_path), ORDERS, result.report()["schema_drift"], "b1")
    assert source_drift(state) == [
        "source drift: amount decimal(12,2) -> values need decimal(14,4); 1 key held back from silver: 1"]
    dms.write_drift_state(spark, str(tmp_path), ORDERS, [], "b2")
    assert source_drift(state) == []
