"""The gate's verdict from its aggregate row (`engine.evaluate`, no JVM): an empty table fails row_count
instead of crashing the suite, a unique check counts every row of a duplicated key (GX's count),
freshness reads a date text as GX does, and exact bounds decide row_count."""

from __future__ import annotations

from datetime import date, datetime

from deplat_job.dq import engine
from deplat_job.dq.suite import parse_suite

TODAY = date(2026, 11, 29)


def _suite(*checks):
    return parse_suite({"table": "silver.t", "expectations": list(checks)}, "t")


def test_an_empty_table_fails_row_count_and_crashes_nothing():
    suite = _suite({"check": "unique", "column": "id"}, {"check": "unique", "columns": ["a", "b"]},
                   {"check": "not_null", "column": "id"}, {"check": "row_count", "min": 1},
                   {"check": "freshness", "column": "d", "max_age_days": 1})
    # what Spark returns for sums and maxes over no rows: NULL
    row = {"_rows": 0, "_n0": None, "_d0": None, "_n1": None, "_d1": None, "_b2": None, "_n2": 0, "_m4": None}
    got = {r.expectation: r for r in engine.evaluate(suite, row, TODAY)}
    assert got["unique(id)"].success and got["unique(id)"].unexpected_count == 0
    assert got["unique(a,b)"].success and got["not_null(id)"].success
    assert not got["row_count"].success and not got["freshness(d)"].success


def test_unique_counts_every_row_of_a_duplicated_key():
    suite = _suite({"check": "unique", "column": "id"})
    r = engine.evaluate(suite, {"_rows": 5, "_n0": 4, "_d0": 3}, TODAY)[0]  # 1,1,1,2 and a NULL
    assert (r.success, r.unexpected_count, r.element_count, r.unexpected_percent) == (False, 3, 5, 75.0)


def test_freshness_reads_text_and_timestamps_as_gx_does():
    suite = _suite({"check": "freshness", "column": "d", "max_age_days": 3})
    verdict = [engine.evaluate(suite, {"_rows": 1, "_m0": v}, TODAY)[0] for v in
               ("2026-11-27", "2026-11-20T10:00:00", datetime(2026, 11, 26, 0, 1), "garbage")]
    assert [r.success for r in verdict] == [True, False, True, False]
    assert "is not a date" in verdict[3].observed


def test_row_count_bounds_are_exact():
    suite = _suite({"check": "row_count", "min": 1.5}, {"check": "row_count", "max": "3", "name": "quoted"})
    one, three = (engine.evaluate(suite, {"_rows": n}, TODAY) for n in (1, 3))
    assert [r.success for r in one] == [False, True]  # 1 row < 1.5 (GX truncates 1.5 to 1)
    assert [r.success for r in three] == [True, True]
