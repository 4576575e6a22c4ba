"""The DQ engine on the shared SparkSession: the one-aggregate gate agrees with Great Expectations on every
check kind, failures carry GX's counts and sample values, the table is read at a pinned Delta version,
and the GX validation result is a real GX ExpectationSuiteValidationResult."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from deplat_job.dq import engine
from deplat_job.dq.suite import SuiteError, parse_suite

TODAY = date(2026, 11, 29)

SUITE = {
    "table": "silver.things",
    "expectations": [
        {"check": "not_null", "column": "id"},
        {"check": "unique", "column": "id"},
        {"check": "unique", "columns": ["ccy", "day"]},
        {"check": "between", "column": "amount", "min": 0, "strict_min": True},
        {"check": "in_set", "column": "status", "values": ["open", "done"]},
        {"check": "regex", "column": "ccy", "pattern": "^[A-Z]{3}$"},
        {"check": "row_count", "min": 1, "max": 100},
        {"check": "freshness", "column": "day", "max_age_days": 3, "severity": "warn"},
        {"check": "referential", "column": "ccy", "ref_table": "silver.currencies", "ref_column": "code"},
    ],
}


def _rows(bad: bool):
    day = TODAY - timedelta(days=1)
    rows = [(i, "EUR" if i % 2 else "USD", day - timedelta(days=i), 10.0 + i, "open") for i in range(1, 9)]
    if bad:
        rows += [(None, "usd", day - timedelta(days=20), -1.0, "lost"),   # null id, bad regex, amount, status
                 (3, "GBP", day - timedelta(days=3), 5.0, "done"),        # duplicate id; GBP not referenced
                 (9, "EUR", day - timedelta(days=1), 7.0, "open")]        # duplicate (ccy, day)
    return rows


@pytest.fixture
def lake(spark, tmp_path):
    def make(bad: bool):
        root = tmp_path / ("bad" if bad else "good")
        df = spark.createDataFrame(_rows(bad), "id INT, ccy STRING, day DATE, amount DOUBLE, status STRING")
        df.write.format("delta").save(str(root / "silver" / "things"))
        spark.createDataFrame([("EUR",), ("USD",)], "code STRING").write.format("delta").save(
            str(root / "silver" / "currencies"))
        return str(root)
    return make


def _by_label(result):
    return {r.expectation: r for r in result.results}


def test_clean_table_passes_in_one_aggregate_and_reports_a_gx_result(spark, lake):
    suite = parse_suite(SUITE, "things")
    result, validation = engine.check_suite(spark, lake(False), suite, today=TODAY)
    assert result.success and result.rows == 8 and result.delta_version == 0
    assert all(r.success for r in result.results), [r.to_dict() for r in result.failed]
    assert all(r.computed_by == engine.COMPUTED_BY_AGG for r in result.results)  # GX was not run
    doc = json.loads(engine.dump_validation(validation))
    assert doc["success"] is True and doc["statistics"]["evaluated_expectations"] == 9
    types = [r["expectation_config"]["type"] for r in doc["results"]]
    assert "expect_compound_columns_to_be_unique" in types and "expect_column_max_to_be_between" in types


def test_failures_agree_with_gx_and_carry_its_counts_and_samples(spark, lake):
    suite = parse_suite(SUITE, "things")
    root = lake(True)
    result, validation = engine.check_suite(spark, root, suite, today=TODAY)
    got = _by_label(result)
    failed = {label for label, r in got.items() if not r.success}
    assert failed == {"not_null(id)", "unique(id)", "unique(ccy,day)", "between(amount)", "in_set(status)",
                      "regex(ccy)", "referential(ccy -> silver.currencies.code)"}
    assert not result.success  # error-severity failures
    # GX itself, over the whole suite, reaches the same verdicts as the one-aggregate gate.
    df = spark.read.format("delta").load(f"{root}/silver/things")
    refs = {label: [r[0] for r in frame.collect()]  # GX's oracle needs the (small) set as a list
            for label, frame in engine.reference_frames(spark, root, suite).items()}
    gx_full = engine.gx_validate(df, suite, refs, result_format="BOOLEAN_ONLY", today=TODAY)
    gx_failed = {r.expectation_config.meta["deplat_check"] for r in gx_full.results if not r.success}
    assert gx_failed == failed
    # The failed expectations: the gate's counts (GX's semantics), GX's sample values.
    assert got["not_null(id)"].computed_by == engine.COMPUTED_BY_GX_SAMPLES
    assert got["not_null(id)"].unexpected_count == 1
    assert got["unique(id)"].unexpected_count == 2 and set(got["unique(id)"].samples) == {3}
    assert got["in_set(status)"].samples == ["lost"]
    assert {"ccy": "EUR", "day": (TODAY - timedelta(days=2)).isoformat()} in got["unique(ccy,day)"].samples
    assert set(got["referential(ccy -> silver.currencies.code)"].samples) == {"usd", "GBP"}
    assert got["referential(ccy -> silver.currencies.code)"].computed_by == engine.COMPUTED_BY_JOIN_SAMPLES
    assert got["between(amount)"].unexpected_percent == pytest.approx(100 / 11, rel=1e-3)
    doc = json.loads(engine.dump_validation(validation))
    assert doc["success"] is False and doc["statistics"]["unsuccessful_expectations"] == 7
    # With the GX report off, gold.quality_results keeps the same counts.
    plain, none = engine.check_suite(spark, root, suite, gx_report=False, today=TODAY)
    assert none is None
    assert [r.unexpected_count for r in plain.results] == [r.unexpected_count for r in result.results]


def test_warn_only_failure_keeps_the_suite_successful(spark, lake):
    suite = parse_suite(SUITE, "things")
    result, _ = engine.check_suite(spark, lake(False), suite, today=TODAY + timedelta(days=30))
    stale = _by_label(result)["freshness(day)"]
    assert not stale.success and stale.severity == "warn"
    assert result.success  # warnings never fail a suite; --fail-on warn is the CLI's call


def test_a_missing_column_is_named(spark, lake):
    doc = {"table": "silver.things", "expectations": [{"check": "not_null", "column": "nope"}]}
    with pytest.raises(SuiteError, match="nope"):
        engine.check_suite(spark, lake(False), parse_suite(doc, "things"), today=TODAY)


def test_quality_rows_are_appended(spark, lake, tmp_path):
    suite = parse_suite(SUITE, "things")
    root = lake(True)
    result, _ = engine.check_suite(spark, root, suite, today=TODAY)
    from datetime import datetime

    rows = engine.quality_rows("b-1", [result], datetime(2026, 11, 29, 12))
    assert engine.append_quality_results(spark, root, rows) == 9
    table = spark.read.format("delta").load(f"{root}/gold/quality_results")
    assert table.count() == 9
    assert table.filter("success = false and severity = 'error'").count() == 7
    engine.write_text(spark, f"{root}/_quality/x.json", '{"ok": true}')
    assert json.loads((tmp_path / "bad" / "_quality" / "x.json").read_text()) == {"ok": True}
