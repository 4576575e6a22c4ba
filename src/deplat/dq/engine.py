"""The DQ engine that runs inside the `dq_check` job (local Spark or EMR Serverless), where the data is.

How a suite is checked (measured in benchmarks/dq_vs_scan.py; the issue note has the figures):

1. The gate: the whole suite compiled into ONE `df.agg(...)` over the table read at a pinned Delta
   version, so a passing suite costs one scan, like a hand-written aggregate. Great Expectations
   1.x out of the box issues 7 (BOOLEAN_ONLY) to 13 (SUMMARY) Spark jobs for 5 expectations
   (facts file, section B3), too slow for a gate.
2. The report: only when checks fail, the table is cached and GX validates the failed expectations
   (result_format SUMMARY, 5 partial unexpected values), so the counts and sample bad values of a
   failure come from GX itself; then the cache is unpersisted. GX's Spark datasource is created
   with persist=False: by default it persists the frame and never unpersists it.
3. The result of every suite is a GX ExpectationSuiteValidationResult: GX's own results for the
   failed expectations, and for the passing ones an ExpectationValidationResult carrying the
   aggregate's observed values (meta.computed_by says which).

Python 3.9-compatible; pyspark and GX are imported inside the functions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from deplat.dq.suite import REFERENTIAL_MAX_VALUES, Check, Suite, SuiteError, freshness_floor

SAMPLES = 5
QUALITY_TABLE = "quality_results"  # gold.quality_results
COMPUTED_BY_AGG = "deplat single-pass aggregate"
COMPUTED_BY_GX = "great_expectations"


@dataclass
class CheckResult:
    """One expectation's outcome, in the units GX uses (percent of the non-null values judged)."""

    expectation: str
    kind: str
    gx_type: str
    severity: str
    success: bool
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    samples: list[Any] = field(default_factory=list)
    computed_by: str = COMPUTED_BY_AGG

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SuiteResult:
    suite: str
    table: str
    delta_version: int
    rows: int
    success: bool
    results: list[CheckResult]
    validation_uri: str | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "results"},
                "results": [r.to_dict() for r in self.results]}


_GX_TYPE = {
    "not_null": "expect_column_values_to_not_be_null",
    "between": "expect_column_values_to_be_between",
    "in_set": "expect_column_values_to_be_in_set",
    "regex": "expect_column_values_to_match_regex",
    "row_count": "expect_table_row_count_to_be_between",
    "freshness": "expect_column_max_to_be_between",
    "referential": "expect_column_values_to_be_in_set",
}


def gx_type(check: Check) -> str:
    if check.kind == "unique":
        return ("expect_column_values_to_be_unique" if len(check.columns) == 1
                else "expect_compound_columns_to_be_unique")
    return _GX_TYPE[check.kind]


def _bad_condition(check: Check, ref_values: list[Any] | None):
    """The Spark condition of an unexpected row for the column-map checks (nulls are not judged)."""
    from pyspark.sql import functions as F

    col = F.col(check.columns[0])
    p = check.params
    if check.kind == "not_null":
        return col.isNull()
    if check.kind == "between":
        bad = F.lit(False)
        if p.get("min") is not None:
            bad = bad | ((col <= F.lit(p["min"])) if p.get("strict_min") else (col < F.lit(p["min"])))
        if p.get("max") is not None:
            bad = bad | ((col >= F.lit(p["max"])) if p.get("strict_max") else (col > F.lit(p["max"])))
        return col.isNotNull() & bad
    if check.kind in ("in_set", "referential"):
        values = p["values"] if check.kind == "in_set" else (ref_values or [])
        return col.isNotNull() & (~col.isin(list(values)) if values else F.lit(True))
    if check.kind == "regex":
        return col.isNotNull() & ~col.rlike(p["pattern"])
    raise SuiteError(f"{check.kind} is not a column-map check")


MAP_KINDS = ("not_null", "between", "in_set", "regex", "referential")


def aggregate_columns(suite: Suite, ref_values: dict[str, list[Any]]) -> list[Any]:
    """Every aggregate the suite needs, for one `df.agg(*columns)`: one scan of the table."""
    from pyspark.sql import functions as F

    cols = [F.count(F.lit(1)).alias("_rows")]
    for i, c in enumerate(suite.checks):
        if c.kind in MAP_KINDS:
            cols.append(F.sum(F.when(_bad_condition(c, ref_values.get(c.label)), 1).otherwise(0)).alias(f"_b{i}"))
            cols.append(F.count(F.col(c.columns[0])).alias(f"_n{i}"))
        elif c.kind == "unique":
            every = F.lit(True)
            for name in c.columns:
                every = every & F.col(name).isNotNull()
            cols.append(F.sum(F.when(every, 1).otherwise(0)).alias(f"_n{i}"))
            cols.append(F.countDistinct(*[F.col(x) for x in c.columns]).alias(f"_d{i}"))
        elif c.kind == "freshness":
            cols.append(F.max(F.col(c.columns[0])).alias(f"_m{i}"))
    return cols


def evaluate(suite: Suite, row: dict[str, Any], today: date | None = None) -> list[CheckResult]:
    """Pass/fail per check from the aggregate's one row (`aggregate_columns`' aliases)."""
    out = []
    rows = int(row["_rows"])
    for i, c in enumerate(suite.checks):
        r = CheckResult(c.label, c.kind, gx_type(c), c.severity, True)
        if c.kind in MAP_KINDS:
            bad = int(row[f"_b{i}"] or 0)
            judged = rows if c.kind == "not_null" else int(row[f"_n{i}"])
            r.element_count, r.unexpected_count = rows, bad
            r.unexpected_percent = round(100.0 * bad / judged, 4) if judged else 0.0
            r.observed = f"{bad} unexpected of {judged}"
            r.success = bad == 0
        elif c.kind == "unique":
            judged, distinct = int(row[f"_n{i}"]), int(row[f"_d{i}"])
            bad = judged - distinct  # rows beyond the first of each key; GX counts every duplicated row
            r.element_count, r.unexpected_count = rows, bad
            r.unexpected_percent = round(100.0 * bad / judged, 4) if judged else 0.0
            r.observed = f"{distinct} distinct of {judged}"
            r.success = bad == 0
        elif c.kind == "row_count":
            lo, hi = c.params.get("min"), c.params.get("max")
            r.observed = rows
            r.success = (lo is None or rows >= lo) and (hi is None or rows <= hi)
        elif c.kind == "freshness":
            newest = row[f"_m{i}"]
            floor = freshness_floor(c, today)
            r.observed = newest.isoformat() if newest is not None else None
            r.success = newest is not None and _as_date(newest) >= floor
        out.append(r)
    return out


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def reference_values(spark: Any, lake: str, suite: Suite) -> dict[str, list[Any]]:
    """check label -> the distinct non-null values of its referenced column(s); SuiteError over the cap."""
    from pyspark.sql import functions as F

    from deplat.pipelines.common import table_path

    out: dict[str, list[Any]] = {}
    for c in suite.checks:
        if c.kind != "referential":
            continue
        layer, name = c.params["ref_table"].split(".", 1)
        ref = spark.read.format("delta").load(table_path(lake, layer, name))
        values = None
        for col in c.ref_columns:
            one = ref.select(F.col(col).alias("v")).where(F.col("v").isNotNull())
            values = one if values is None else values.unionByName(one)
        got = [r[0] for r in values.distinct().limit(REFERENTIAL_MAX_VALUES + 1).collect()]
        if len(got) > REFERENTIAL_MAX_VALUES:
            raise SuiteError(f"{c.label}: {c.params['ref_table']} has more than {REFERENTIAL_MAX_VALUES} "
                             "distinct values; a referential check is a set check")
        out[c.label] = sorted(got, key=str)
    return out


def gate(df: Any, suite: Suite, ref_values: dict[str, list[Any]], today: date | None = None
         ) -> tuple[int, list[CheckResult]]:
    """(row count, the suite's verdict per check) from one aggregate over `df`: one scan."""
    row = df.agg(*aggregate_columns(suite, ref_values)).collect()[0].asDict()
    return int(row["_rows"]), evaluate(suite, row, today)


def _gx_context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # offline: no usage statistics calls
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def gx_validate(df: Any, suite: Suite, ref_values: dict[str, list[Any]], only: list[str] | None = None,
                result_format: Any = "SUMMARY"):
    """GX 1.x validation of `suite` (or its checks labelled in `only`) over the Spark frame `df`.

    Returns GX's ExpectationSuiteValidationResult. The datasource does not persist `df` (GX's
    default persists it and never unpersists).
    """
    ctx = _gx_context()
    source = ctx.data_sources.add_spark(name="lake", persist=False)
    asset = source.add_dataframe_asset(name=suite.table.replace(".", "_"))
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": df})
    return batch.validate(suite.gx_suite(ref_values, only), result_format=result_format)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, dict):  # a compound key's values
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _merge_gx(results: list[CheckResult], gx_result: Any) -> None:
    """Take the failed checks' counts and sample values from GX's own results."""
    by_label = {r.expectation: r for r in results}
    for evr in gx_result.results:
        label = (evr.expectation_config.meta or {}).get("deplat_check")
        r = by_label.get(label)
        if r is None:
            continue
        res = evr.result or {}
        r.computed_by = COMPUTED_BY_GX
        if evr.success and not r.success:
            r.observed = f"{r.observed} (GX disagrees: success)"
        if "unexpected_count" in res:
            r.unexpected_count = res.get("unexpected_count")
            r.element_count = res.get("element_count", r.element_count)
            pct = res.get("unexpected_percent")
            r.unexpected_percent = round(pct, 4) if pct is not None else r.unexpected_percent
            r.samples = [_jsonable(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLES]]
        elif "observed_value" in res:
            r.observed = _jsonable(res["observed_value"])
        if evr.exception_info and evr.exception_info.get("raised_exception"):
            r.observed = f"GX raised: {evr.exception_info.get('exception_message')}"


def validation_result(suite: Suite, results: list[CheckResult], gx_result: Any, ref_values: dict[str, list[Any]],
                      meta: dict[str, Any]):
    """The suite's GX ExpectationSuiteValidationResult: GX's results where GX ran, the gate's elsewhere."""
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

    from_gx = {}
    if gx_result is not None:
        for evr in gx_result.results:
            from_gx[(evr.expectation_config.meta or {}).get("deplat_check")] = evr
    evrs = []
    for check, r in zip(suite.checks, results):
        if check.label in from_gx:
            evrs.append(from_gx[check.label])
            continue
        config = check.gx_expectation(ref_values.get(check.label)).configuration
        config.meta = {"deplat_check": check.label}
        body = {"observed_value": _jsonable(r.observed)}
        if r.unexpected_count is not None:
            body.update(element_count=r.element_count, unexpected_count=r.unexpected_count,
                        unexpected_percent=r.unexpected_percent, partial_unexpected_list=r.samples)
        evrs.append(ExpectationValidationResult(success=r.success, expectation_config=config, result=body,
                                                meta={"computed_by": r.computed_by}))
    ok = sum(1 for r in results if r.success)
    stats = {"evaluated_expectations": len(results), "successful_expectations": ok,
             "unsuccessful_expectations": len(results) - ok,
             "success_percent": round(100.0 * ok / len(results), 2) if results else 100.0}
    return ExpectationSuiteValidationResult(
        success=all(r.success or r.severity == "warn" for r in results), results=evrs, suite_name=suite.name,
        statistics=stats, meta=meta)


def check_suite(spark: Any, lake: str, suite: Suite, gx_report: bool = True, today: date | None = None
                ) -> tuple[SuiteResult, Any]:
    """Check one suite against its table at the table's current Delta version.

    Returns (SuiteResult, GX ExpectationSuiteValidationResult or None when gx_report is False).
    Raises SuiteError when the table lacks a column the suite names.
    """
    from delta.tables import DeltaTable

    from deplat.pipelines.common import table_path

    path = table_path(lake, suite.layer, suite.table_name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise SuiteError(f"{suite.table} is not a Delta table at {path}")
    version = int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    missing = [c for c in suite.columns if c not in df.columns]
    if missing:
        raise SuiteError(f"{suite.table} has no column(s) {missing} (suite {suite.name})")
    refs = reference_values(spark, lake, suite)
    rows, results = gate(df, suite, refs, today)
    failed = [r.expectation for r in results if not r.success]
    gx_result = None
    if failed and gx_report:
        df.persist()
        try:
            gx_result = gx_validate(df, suite, refs, only=failed,
                                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLES})
        finally:
            df.unpersist()
        _merge_gx(results, gx_result)
    success = all(r.success or r.severity == "warn" for r in results)
    result = SuiteResult(suite.name, suite.table, version, rows, success, results)
    validation = None
    if gx_report:
        validation = validation_result(suite, results, gx_result, refs, {
            "table": suite.table, "delta_version": version, "checked_at": datetime.now(timezone.utc).isoformat()})
    return result, validation


def quality_rows(run_id: str, results: list[SuiteResult], at: datetime) -> list[dict[str, Any]]:
    """gold.quality_results rows: one per expectation checked."""
    return [{"run_id": run_id, "suite": s.suite, "table_name": s.table, "delta_version": s.delta_version,
             "expectation": r.expectation, "expectation_type": r.gx_type, "severity": r.severity,
             "success": r.success, "observed": None if r.observed is None else str(r.observed),
             "unexpected_count": r.unexpected_count, "unexpected_percent": r.unexpected_percent,
             "checked_at": at} for s in results for r in s.results]


QUALITY_SCHEMA = ("run_id STRING, suite STRING, table_name STRING, delta_version BIGINT, expectation STRING, "
                  "expectation_type STRING, severity STRING, success BOOLEAN, observed STRING, "
                  "unexpected_count BIGINT, unexpected_percent DOUBLE, checked_at TIMESTAMP")


def append_quality_results(spark: Any, lake: str, rows: list[dict[str, Any]]) -> int:
    """Append to gold.quality_results (a Delta table, created on first use); returns rows written."""
    from deplat.pipelines.common import table_path

    if not rows:
        return 0
    df = spark.createDataFrame(rows, QUALITY_SCHEMA)
    df.write.format("delta").mode("append").save(table_path(lake, "gold", QUALITY_TABLE))
    return len(rows)


def write_text(spark: Any, uri: str, text: str) -> None:
    """Write one small file through Hadoop's FileSystem (a local path, or s3:// via EMRFS on EMR)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def validation_uri(lake: str, suite: Suite, run_id: str) -> str:
    """<lake>/_quality/<layer>.<table>/<suite>/<run id>.json"""
    return f"{lake.rstrip('/')}/_quality/{suite.table}/{suite.name}/{run_id}.json"


def dump_validation(validation: Any) -> str:
    return json.dumps(validation.to_json_dict(), indent=2, default=str)
