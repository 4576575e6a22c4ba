"""The DQ engine that runs inside the `dq_check` job (local Spark or EMR Serverless), where the data is.

How a suite is checked (measured in benchmarks/dq_vs_scan.py; the README has the figures):

1. The gate: the whole suite compiled into aggregates over the table read at a pinned Delta version
   (`gate_rows`): one `df.agg` without a unique check, else one `groupBy(key)` carrying the other
   aggregates, plus a groupBy per further unique key. Its verdicts and counts are Great
   Expectations 1.x's (GX is the oracle: tests/integration/deplat_job/dq/test_engine_gx_differential.py): the same
   Spark conditions, a unique key's every duplicated row, GX's NULL handling.
2. The report: only when checks fail, the table is cached and GX validates the failed expectations
   (result_format SUMMARY, 5 partial unexpected values) for sample bad values; the counts stay the
   gate's, so gold.quality_results is the same with the report off. GX's Spark datasource is created
   with persist=False: by default it persists the frame and never unpersists it.
   A referential check is a join on the engine, never a value set on the driver: the table is left
   joined to the distinct non-NULL values of the referenced column(s) (`reference_frames`), and a row
   is unexpected when its value is not NULL and found no match -- GX's ExpectColumnValuesToBeInSet
   over that set (NULLs not judged, a NULL in the reference matches nothing), with no cap on the
   reference table's size. GX has no cross-table expectation, so its failed referential checks get
   their sample values from a left anti join (5 values), not from GX; the validation result names the
   referenced column as a suite parameter (`{"$PARAMETER": "ref silver.t.col"}`) instead of a value list.
3. The result of every suite is a GX ExpectationSuiteValidationResult: GX's own results for the
   failed expectations, and for the passing ones an ExpectationValidationResult carrying the
   aggregate's observed values (meta.computed_by says which).

Python 3.9-compatible; pyspark and GX are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from deplat_job.dq.suite import Check, Suite, SuiteError, freshness_floor, type_family

SAMPLES = 5
QUALITY_TABLE = "quality_results"  # gold.quality_results
COMPUTED_BY_AGG = "deplat single-pass aggregate"
COMPUTED_BY_GX = "great_expectations"
COMPUTED_BY_GX_SAMPLES = f"{COMPUTED_BY_AGG}; samples: {COMPUTED_BY_GX}"
COMPUTED_BY_JOIN_SAMPLES = f"{COMPUTED_BY_AGG}; samples: left anti join on the reference"
REF_VALUE = "_dq_ref_value"  # the referenced values' column in a reference frame


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


def quoted(name: str) -> str:
    """A column name as a Spark SQL identifier: backquoted, so dots, spaces and unicode are names."""
    return "`" + name.replace("`", "``") + "`"


def _col(name: str):
    from pyspark.sql import functions as F

    return F.col(quoted(name))


_LONG = (-(2 ** 63), 2 ** 63 - 1)


def _lit(bound: Any, string_column: bool):
    """A bound as a Spark literal. Against a string column as GX does it (a number becomes a double, so
    Spark casts the text to double; a date a date); otherwise exact (a long, or a decimal past it)."""
    from pyspark.sql import functions as F

    if isinstance(bound, (date, datetime)):
        return F.lit(bound)
    if string_column or isinstance(bound, float):
        return F.lit(float(bound))
    if isinstance(bound, int) and not _LONG[0] <= bound <= _LONG[1]:
        return F.lit(Decimal(bound)) if len(str(abs(bound))) <= 38 else F.lit(float(bound))
    return F.lit(bound)


def _bad_condition(check: Check, ref_flag: str | None, type_name: str = ""):
    """The Spark condition of an unexpected row of a column-map check, GX's own: `~expected`, and for
    all but not_null `column IS NOT NULL AND ~expected`; a NULL condition (a text Spark cannot cast to
    the bound's type) is not unexpected, as in GX. A referential check's `ref_flag` is the column its
    left join to the reference set sets (NULL: no match; see `with_reference_flags`)."""
    from pyspark.sql import functions as F

    col = _col(check.columns[0])
    p = check.params
    if check.kind == "not_null":
        return ~col.isNotNull()
    if check.kind == "between":
        text = type_family(type_name) == "string"
        lo, hi = p.get("min"), p.get("max")
        expected = None
        if lo is not None:
            expected = (col > _lit(lo, text)) if p.get("strict_min") else (col >= _lit(lo, text))
        if hi is not None:
            upper = (col < _lit(hi, text)) if p.get("strict_max") else (col <= _lit(hi, text))
            expected = upper if expected is None else expected & upper
        if expected is None:  # validate_suite requires min and/or max
            raise SuiteError(f"{check.label}: between needs min and/or max")
    elif check.kind == "in_set":
        expected = col.isin(list(p["values"]))
    elif check.kind == "referential":
        if ref_flag is None:
            raise SuiteError(f"{check.label}: no reference frame (see reference_frames)")
        expected = F.col(quoted(ref_flag)).isNotNull()
    elif check.kind == "regex":
        expected = col.rlike(p["pattern"])
    else:
        raise SuiteError(f"{check.kind} is not a column-map check")
    return col.isNotNull() & ~expected


MAP_KINDS = ("not_null", "between", "in_set", "regex", "referential")


def _judged(check: Check):
    """Rows a unique check judges: GX skips a row whose key is NULL (one column) or whose key parts are
    all NULL (a compound key: ignore_row_if='all_values_are_missing', GX 1.x's default)."""
    from functools import reduce

    return reduce(lambda a, b: a | b, [_col(c).isNotNull() for c in check.columns])


def _sum(cond):
    from pyspark.sql import functions as F

    return F.sum(F.when(cond, 1).otherwise(0))


def _row_aggregates(suite: Suite, ref_flags: dict[str, str], types: dict[str, str]) -> dict[str, Any]:
    """alias -> aggregate over rows: the row count, each map check's unexpected and non-null counts,
    each freshness check's max. All are counts, sums or maxes, so they also combine across groups."""
    from pyspark.sql import functions as F

    cols = {"_rows": F.count(F.lit(1))}
    for i, c in enumerate(suite.checks):
        if c.kind in MAP_KINDS:
            cols[f"_b{i}"] = _sum(_bad_condition(c, ref_flags.get(c.label), types.get(c.columns[0], "")))
            cols[f"_n{i}"] = F.count(_col(c.columns[0]))
        elif c.kind == "freshness":
            cols[f"_m{i}"] = F.max(_col(c.columns[0]))
    return cols


def _merged(aliases: list[str]) -> list[Any]:
    """Row aggregates already computed per group, combined: counts and sums add up, maxes max."""
    from pyspark.sql import functions as F

    return [(F.max(F.col(a)) if a.startswith("_m") else F.sum(F.col(a))).alias(a) for a in aliases]


def _unique_counts(check: Check, i: int, count: str) -> list[Any]:
    """From one row per key with its row count: the rows judged and the rows of a duplicated key
    (every one of them, as GX counts), for check i."""
    from pyspark.sql import functions as F

    judged = _judged(check)
    return [F.sum(F.when(judged, F.col(count))).alias(f"_n{i}"),
            F.sum(F.when(judged & (F.col(count) > 1), F.col(count))).alias(f"_d{i}")]


def _ref_condition(df: Any, check: Check, ref: Any, value: str):
    """The join condition of a row of `df` and a reference frame whose values column is `value`."""
    return df[quoted(check.columns[0])] == ref[quoted(value)]


def with_reference_flags(df: Any, suite: Suite, refs: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """(df left joined to each referential check's reference frame, check label -> flag column).

    `refs`: check label -> a frame of the distinct non-NULL referenced values in column REF_VALUE
    (`reference_frames`). Each join adds one column, TRUE where the row's value is in the reference
    and NULL where it is not (or the value is NULL); the references are distinct, so the row count is
    unchanged. Spark picks the join (a broadcast when the reference is small, else a sort-merge join):
    nothing is collected to the driver. SuiteError when a referential check has no frame.
    """
    from pyspark.sql import functions as F

    flags: dict[str, str] = {}
    for i, c in enumerate(suite.checks):
        if c.kind != "referential":
            continue
        if c.label not in refs:
            raise SuiteError(f"{c.label}: no reference frame (see reference_frames)")
        flag, value = f"_dq_ref{i}", f"_dq_ref{i}_value"
        while flag in df.columns or value in df.columns:
            flag, value = "_" + flag, "_" + value
        ref = refs[c.label].select(F.col(REF_VALUE).alias(value), F.lit(True).alias(flag))
        df = df.join(ref, _ref_condition(df, c, ref, value), "left").drop(value)
        flags[c.label] = flag
    return df, flags


def gate_rows(df: Any, suite: Suite, refs: dict[str, Any], fold: bool = True) -> dict[str, Any]:
    """Every number the suite's verdict needs, as one dict (`evaluate`'s input).

    `refs`: check label -> reference frame of each referential check (`reference_frames`), joined
    to `df` first (`with_reference_flags`).

    Without a unique check: one `df.agg` (one scan). With one: one `groupBy(key)` whose groups also
    carry the row aggregates, summed after (one scan and one shuffle of the keys, what GX's window
    needs too; no count-distinct, whose Expand copies every row per distinct set). Each further unique
    check adds its own groupBy over its key columns. `fold=False` computes the row aggregates in a
    `df.agg` of their own (benchmarks/dq_vs_scan.py measures it slower: 1.15-1.36x).
    """
    from pyspark.sql import functions as F

    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    df, flags = with_reference_flags(df, suite, refs)
    uniques = [(i, c) for i, c in enumerate(suite.checks) if c.kind == "unique"]
    rows = _row_aggregates(suite, flags, types)
    if not uniques or not fold:
        out = df.agg(*[v.alias(k) for k, v in rows.items()]).collect()[0].asDict()
        if not uniques:
            return out
    else:
        out = {}
    for n, (i, c) in enumerate(uniques):
        keyed = Check(c.kind, tuple(f"_k{j}" for j in range(len(c.columns))))
        groups = df.groupBy(*[_col(x).alias(k) for x, k in zip(c.columns, keyed.columns)])
        if n == 0 and fold:  # the row aggregates ride along on the first key's groups
            grouped = groups.agg(*[v.alias(k) for k, v in rows.items()])
            totals = _merged(list(rows)) + _unique_counts(keyed, i, "_rows")
        else:
            grouped = groups.agg(F.count(F.lit(1)).alias("_c"))
            totals = _unique_counts(keyed, i, "_c")
        out.update(grouped.agg(*totals).collect()[0].asDict())
    return out


def _newest_date(value: Any) -> date:
    """The newest value of a freshness column as a date, read as GX reads it: a date, the date of a
    timestamp, or a text parsed by dateutil (GX's parser); ValueError when a text is not a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        from dateutil.parser import parse
    except ImportError:  # GX brings dateutil wherever it runs; ISO text without it
        return datetime.fromisoformat(str(value).strip()).date()
    from dateutil.parser import ParserError

    try:
        return parse(str(value)).date()
    except (ParserError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def evaluate(suite: Suite, row: dict[str, Any], today: date | None = None) -> list[CheckResult]:
    """Pass/fail per check from `gate_rows`' numbers, in GX's units: unexpected_percent of the rows
    judged (non-null, or a unique key not all NULL), a unique check's unexpected count = every row of a
    duplicated key. An empty table gives zeros, never a crash."""
    out = []
    rows = int(row["_rows"] or 0)
    for i, c in enumerate(suite.checks):
        r = CheckResult(c.label, c.kind, gx_type(c), c.severity, True)
        if c.kind in MAP_KINDS or c.kind == "unique":
            bad = int(row[f"_b{i}" if c.kind in MAP_KINDS else f"_d{i}"] or 0)
            judged = rows if c.kind == "not_null" else int(row[f"_n{i}"] or 0)
            r.element_count, r.unexpected_count = rows, bad
            r.unexpected_percent = round(100.0 * bad / judged, 4) if judged else 0.0
            r.observed = f"{bad} unexpected of {judged}"
            r.success = bad == 0
        elif c.kind == "row_count":
            lo, hi = c.params.get("min"), c.params.get("max")
            r.observed = rows
            r.success = (lo is None or rows >= lo) and (hi is None or rows <= hi)
        elif c.kind == "freshness":
            newest = row[f"_m{i}"]
            r.observed = _jsonable(newest)
            try:
                r.success = newest is not None and _newest_date(newest) >= freshness_floor(c, today)
            except ValueError as exc:
                r.observed, r.success = f"{newest!r} is not a date: {exc}", False
        out.append(r)
    return out


def reference_frames(spark: Any, lake: str, suite: Suite) -> dict[str, Any]:
    """check label -> a lazy Spark frame of the distinct non-NULL values of its referenced column(s)
    (one column, REF_VALUE; several ref_columns are unioned, Spark widening their types). Nothing is
    read here and nothing is ever collected: `gate` joins them on the engine, at any size."""
    from pyspark.sql import functions as F

    from deplat_job.pipelines.common import table_path

    out: dict[str, Any] = {}
    for c in suite.checks:
        if c.kind != "referential":
            continue
        layer, name = c.params["ref_table"].split(".", 1)
        ref = spark.read.format("delta").load(table_path(lake, layer, name))
        values = None
        for col in c.ref_columns:
            one = ref.select(F.col(quoted(col)).alias(REF_VALUE)).where(F.col(REF_VALUE).isNotNull())
            values = one if values is None else values.unionByName(one)
        if values is None:  # ref_columns falls back to the check's own (required) column
            raise SuiteError(f"{c.label}: no referenced column")
        out[c.label] = values.distinct()
    return out


def reference_samples(df: Any, check: Check, ref: Any, n: int = SAMPLES) -> list[Any]:
    """Up to `n` non-NULL values of `df`'s column that `ref` (a reference frame) lacks: a left anti
    join, the sample values of a failed referential check (GX would need the whole set on the driver)."""
    col = _col(check.columns[0])
    bad = df.join(ref, _ref_condition(df, check, ref, REF_VALUE), "left_anti").where(col.isNotNull())
    return [_jsonable(r[0]) for r in bad.select(col).limit(n).collect()]


def gate(df: Any, suite: Suite, refs: dict[str, Any], today: date | None = None
         ) -> tuple[int, list[CheckResult]]:
    """(row count, the suite's verdict per check) from `gate_rows` over `df`; `refs`: check label ->
    reference frame (`reference_frames`). SuiteError when a check cannot run on its column's type or
    a pattern is not a Java regex (before any scan)."""
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    problems = suite.type_problems({suite.table: types})
    if problems:
        raise SuiteError("; ".join(problems))
    _java_regexes(df.sparkSession, suite)
    row = gate_rows(df, suite, refs)
    return int(row["_rows"] or 0), evaluate(suite, row, today)


def _java_regexes(spark: Any, suite: Suite) -> None:
    """Compile each regex check's pattern with java.util.regex (what rlike runs); SuiteError if refused."""
    for c in suite.checks:
        if c.kind == "regex":
            try:
                spark.sparkContext._jvm.java.util.regex.Pattern.compile(c.params["pattern"])
            except Exception as exc:  # py4j's Py4JJavaError: a PatternSyntaxException
                msg = str(getattr(exc, "java_exception", exc)).splitlines()[0]
                raise SuiteError(f"{c.label}: {c.params['pattern']!r} is not a Java regex: {msg}") from None


def _gx_context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # offline: no usage statistics calls
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _gx_names(df: Any, suite: Suite) -> tuple[Any, Suite, dict[str, str]]:
    """df and suite with every column named other than [A-Za-z_][A-Za-z0-9_]* renamed for GX, which
    reads `a.b` as a struct field; the checks keep their labels. Returns (df, suite, GX name -> name)."""
    names = df.columns
    if all(_PLAIN.match(n) for n in names):
        return df, suite, {}
    new = [n if _PLAIN.match(n) else f"_dq_col{j}" for j, n in enumerate(names)]
    back = {a: n for a, n in zip(new, names) if a != n}
    to = {n: a for a, n in back.items()}
    checks = tuple(Check(c.kind, tuple(to.get(x, x) for x in c.columns), c.params, c.severity, c.label)
                   for c in suite.checks)
    return df.toDF(*new), Suite(suite.name, suite.table, checks, suite.description, suite.source), back


def gx_validate(df: Any, suite: Suite, ref_values: dict[str, list[Any]], only: list[str] | None = None,
                result_format: Any = "SUMMARY", today: date | None = None):
    """GX 1.x validation of `suite` (or its checks labelled in `only`) over the Spark frame `df`.

    `ref_values`: check label -> a referential check's value set as a list (GX's in-set semantics;
    the tests' oracle passes small ones). The job never calls it for a referential check: it would
    need the whole reference on the driver (see the module docstring).

    Returns GX's ExpectationSuiteValidationResult. The datasource does not persist `df` (GX's
    default persists it and never unpersists). Columns GX cannot name (a dot, unicode) are renamed
    for it and named back in the sample values of a compound key.
    """
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    df, suite, back = _gx_names(df, suite)
    types = {next((a for a, n in back.items() if n == name), name): t for name, t in types.items()}
    ctx = _gx_context()
    source = ctx.data_sources.add_spark(name="lake", persist=False)
    asset = source.add_dataframe_asset(name=suite.table.replace(".", "_"))
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(suite.gx_suite(ref_values, only, types, today), result_format=result_format)
    if back:
        for evr in result.results:
            res = evr.result or {}
            for key in ("partial_unexpected_list", "unexpected_list"):
                if isinstance(res.get(key), list):
                    res[key] = [{back.get(k, k): v for k, v in x.items()} if isinstance(x, dict) else x
                                for x in res[key]]
    return result


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
    """Take the failed checks' sample values from GX's own results. The counts stay the gate's (they
    are GX's semantics, computed exactly); where GX's differ (its float bounds) the observed value says so."""
    by_label = {r.expectation: r for r in results}
    for evr in gx_result.results:
        label = (evr.expectation_config.meta or {}).get("deplat_check")
        r = by_label.get(label) if label is not None else None
        if r is None:
            continue
        res = evr.result or {}
        r.computed_by = COMPUTED_BY_GX_SAMPLES
        if evr.exception_info and evr.exception_info.get("raised_exception"):
            r.observed = f"{r.observed} (GX raised: {evr.exception_info.get('exception_message')})"
            continue
        if "unexpected_count" in res:
            r.samples = [_jsonable(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLES]]
            if res.get("unexpected_count") != r.unexpected_count:
                r.observed = f"{r.observed} (GX counts {res.get('unexpected_count')})"
        if evr.success and not r.success:
            r.observed = f"{r.observed} (GX disagrees: success)"


def validation_result(suite: Suite, results: list[CheckResult], gx_result: Any, meta: dict[str, Any],
                      types: dict[str, str] | None = None, today: date | None = None):
    """The suite's GX ExpectationSuiteValidationResult: GX's results where GX ran, the gate's elsewhere
    (`types`: column -> type name, for freshness bounds). A referential check's value set is a suite
    parameter naming the referenced column(s), not their values."""
    types = types or {}
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
        config = check.gx_expectation(None, types.get(check.column or "", ""), today).configuration
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
    Raises SuiteError when the table lacks a column the suite names, a check does not fit its
    column's type, or a pattern is not a Java regex. The counts are the gate's with or without the
    GX report (GX adds sample values), so gold.quality_results does not depend on it.
    """
    from delta.tables import DeltaTable

    from deplat_job.pipelines.common import table_path

    path = table_path(lake, suite.layer, suite.table_name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise SuiteError(f"{suite.table} is not a Delta table at {path}")
    version = int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    missing = [c for c in suite.columns if c not in df.columns]
    if missing:
        raise SuiteError(f"{suite.table} has no column(s) {missing} (suite {suite.name})")
    refs = reference_frames(spark, lake, suite)
    rows, results = gate(df, suite, refs, today)
    failed = [r.expectation for r in results if not r.success and r.kind != "referential"]
    failed_refs = [(c, r) for c, r in zip(suite.checks, results) if not r.success and r.kind == "referential"]
    gx_result = None
    if (failed or failed_refs) and gx_report:
        df.persist()
        try:
            if failed:
                gx_result = gx_validate(df, suite, {}, only=failed, today=today, result_format={
                    "result_format": "SUMMARY", "partial_unexpected_count": SAMPLES})
            for c, r in failed_refs:
                r.samples, r.computed_by = reference_samples(df, c, refs[c.label]), COMPUTED_BY_JOIN_SAMPLES
        finally:
            df.unpersist()
        if gx_result is not None:
            _merge_gx(results, gx_result)
    success = all(r.success or r.severity == "warn" for r in results)
    result = SuiteResult(suite.name, suite.table, version, rows, success, results)
    validation = None
    if gx_report:
        validation = validation_result(suite, results, gx_result, {
            "table": suite.table, "delta_version": version, "checked_at": datetime.now(timezone.utc).isoformat()},
            {f.name: f.dataType.simpleString() for f in df.schema.fields}, today)
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
    from deplat_job.pipelines.common import table_path

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
