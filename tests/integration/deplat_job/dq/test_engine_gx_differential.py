"""The DQ gate against Great Expectations 1.x as the oracle (issue 23 part 1).

Generated adversarial tables (NULLs in every position, an empty table, NaN and infinities, bigints and
decimals at the bounds, numbers and dates as text, compound keys with NULL parts, dotted and unicode
column names) and every check kind on them; the gate's verdict and counts are compared with GX
validating the same expectations directly (SUMMARY). Asserted: no false pass (the gate passes what GX
fails), no crash, the same verdict, and the same unexpected count wherever GX reports one. Where GX
loses precision (its bounds are floats; it truncates a row_count bound) deplat's exact answer is
asserted instead, and GX's wrong one is pinned so a change in GX shows. Patterns: what the suite
reader accepts is what java.util.regex compiles.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import pytest

from deplat_job.dq import engine
from deplat_job.dq.suite import SuiteError, parse_suite, regex_problem

pytestmark = pytest.mark.spark

TODAY = date(2026, 11, 29)
BIG = 2 ** 53
SCHEMA = ("id BIGINT, d DOUBLE, dec DECIMAL(38,18), i INT, s STRING, dt DATE, ts TIMESTAMP, ds STRING, "
          "iso STRING, k1 STRING, k2 INT, `a.b` STRING, `prix€` DOUBLE")
NAN, INF = float("nan"), float("inf")
ROWS = [
    # id, d, dec, i, s, dt, ts, ds, iso, k1, k2, a.b, prix€
    (1, 1.5, Decimal("1"), 1, "10", date(2026, 11, 28), datetime(2026, 11, 28, 9), "2026-11-28", "2026-11-28", "A", 1, "x1", 2.0),  # noqa: E501
    (2, 99.0, Decimal("1.000000000000000001"), 2, "9", date(2026, 11, 20), datetime(2026, 11, 20), "2026-1-5", "2026-11-20", "A", None, "x1", 3.0),  # noqa: E501
    (3, -1.0, Decimal("0.999999999999999999"), 3, "abc", date(2020, 1, 1), None, "garbage", None, "A", None, None, -1.0),  # noqa: E501
    (4, NAN, Decimal("2"), None, " 5 ", None, datetime(2026, 11, 27, 23, 59), None, "2026-11-01", None, None, "y", None),  # noqa: E501
    (5, NAN, None, 5, None, date(2026, 11, 28), datetime(2026, 11, 27), "2026-11-27", "2026-11-27", None, None, "y", NAN),  # noqa: E501
    (6, INF, Decimal("1"), 6, "100", date(2026, 11, 28), datetime(2026, 11, 28), "2026-11-28", "2026-11-28", "B", 2, "z", INF),  # noqa: E501
    (7, -INF, Decimal("-1"), 1, "10", date(2026, 11, 28), datetime(2026, 11, 28), "2026-11-28", "2026-11-28", "B", 2, "€", 0.0),  # noqa: E501
    (BIG, 0.0, Decimal("1"), 2, "10.0", date(2026, 11, 28), datetime(2026, 11, 28), "2026-11-28", "2026-11-28", "C", 3, "ü", 1.0),  # noqa: E501
    (BIG + 1, -0.0, Decimal("1"), 3, "1e1", date(2026, 11, 28), datetime(2026, 11, 28), "2026-11-28", "2026-11-28", "C", 4, "ü", 1.0),  # noqa: E501
    (None, None, None, None, None, None, None, None, None, "C", 4, None, None),  # noqa: E501
    (1, 1.5, Decimal("1"), 1, "10", date(2026, 11, 28), datetime(2026, 11, 28), "2026-11-28", "2026-11-28", "A", 1, "x1", 2.0),  # noqa: E501
]

# (expectation, precision case) for the adversarial table; a precision case is where GX's floats
# give the wrong answer: deplat's exact verdict is asserted (last tuple item) instead of GX's.
CHECKS = [
    {"check": "not_null", "column": "id"}, {"check": "not_null", "column": "d"},
    {"check": "not_null", "column": "s"}, {"check": "not_null", "column": "a.b"},
    {"check": "not_null", "column": "prix€"}, {"check": "not_null", "column": "k1"},
    {"check": "unique", "column": "id"}, {"check": "unique", "column": "d"}, {"check": "unique", "column": "s"},
    {"check": "unique", "column": "i"}, {"check": "unique", "column": "prix€", "name": "unique_prix"},
    {"check": "unique", "columns": ["k1", "k2"]}, {"check": "unique", "columns": ["a.b", "k2"]},
    {"check": "unique", "columns": ["k2", "iso"]}, {"check": "unique", "columns": ["ts", "dec"]},
    {"check": "unique", "columns": ["id", "ts"]},
    {"check": "between", "column": "d", "min": 0, "max": 100},
    {"check": "between", "column": "d", "min": -1, "strict_min": True, "name": "d_strict"},
    {"check": "between", "column": "d", "max": "inf", "name": "d_inf"},
    {"check": "between", "column": "prix€", "min": 0},
    {"check": "between", "column": "i", "min": "2", "max": "5", "name": "i_quoted"},
    {"check": "between", "column": "i", "min": 1, "max": 6, "strict_max": True, "name": "i_strict"},
    {"check": "between", "column": "s", "min": 9, "name": "s_num"},
    {"check": "between", "column": "s", "min": "9.5", "max": 100, "strict_max": True, "name": "s_quoted"},
    {"check": "between", "column": "ds", "min": "2026-11-01", "name": "ds_date"},
    {"check": "between", "column": "iso", "min": date(2026, 11, 20), "max": date(2026, 11, 28), "name": "iso_date"},
    {"check": "between", "column": "dt", "min": "2026-01-01", "max": "2026-11-28"},
    {"check": "between", "column": "ts", "min": datetime(2026, 11, 27), "name": "ts_dt"},
    {"check": "between", "column": "ts", "min": "2026-11-20", "max": "2026-11-28", "name": "ts_date"},
    {"check": "between", "column": "dec", "min": 0, "max": 1.5, "name": "dec_range"},
    {"check": "between", "column": "id", "min": 1, "name": "id_min"},
    {"check": "between", "column": "dec", "min": Decimal("1.000000000000000001"), "strict_min": True,
     "name": "dec_strict"},
    {"check": "in_set", "column": "s", "values": ["10", "9", "100"]},
    {"check": "in_set", "column": "k1", "values": []},
    {"check": "in_set", "column": "k1", "values": ["A", "B", "C"], "name": "k1_set"},
    {"check": "in_set", "column": "i", "values": [1, 2, 3], "name": "i_set"},
    {"check": "in_set", "column": "d", "values": [1.5, 99.0, 0.0], "name": "d_set"},
    {"check": "in_set", "column": "a.b", "values": ["x1", "y", "z"]},
    {"check": "regex", "column": "s", "pattern": "^[0-9]+$"},
    {"check": "regex", "column": "a.b", "pattern": "^\\p{L}\\d?$"},
    {"check": "regex", "column": "k1", "pattern": "(?<c>[A-Z])\\k<c>?"},
    {"check": "regex", "column": "i", "pattern": "^[1-3]$", "name": "i_regex"},
    {"check": "row_count", "min": 1, "max": 100}, {"check": "row_count", "min": "12", "name": "rows_quoted"},
    {"check": "row_count", "max": 10, "name": "rows_max"},
    {"check": "freshness", "column": "dt", "max_age_days": 3},
    {"check": "freshness", "column": "ts", "max_age_days": 1},
    {"check": "freshness", "column": "iso", "max_age_days": 2},
    {"check": "freshness", "column": "ds", "max_age_days": 2, "name": "fresh_garbage"},
    {"check": "referential", "column": "k1", "ref_table": "silver.ref", "ref_column": "code"},
]
# GX turns numeric bounds into floats: 2**53 + 1 > 2**53 and 1.000000000000000001 > 1 are lost on it;
# it truncates a row_count bound of 1.5 (deplat: at least 2 rows) to 1.
PRECISION = [{"check": "between", "column": "id", "max": BIG, "name": "id_2_53"},
             {"check": "between", "column": "dec", "max": Decimal("1"), "name": "dec_1"}]
ROWS_1_5 = {"check": "row_count", "min": "1.5", "name": "rows_1_5"}


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("dq_diff")
    full = spark.createDataFrame(ROWS, SCHEMA)
    spark.createDataFrame([("A",), ("B",), (None,)], "code STRING").write.format("delta").save(
        str(root / "silver" / "ref"))
    frames = {"full": full, "empty": full.limit(0), "one": full.limit(1),
              "nulls": spark.createDataFrame([tuple([None] * len(ROWS[0]))] * 3, SCHEMA)}
    for name, df in frames.items():
        df.write.format("delta").save(str(root / "silver" / name))
    return str(root)


def _suite(table: str, checks: list[dict]):
    return parse_suite({"table": f"silver.{table}", "expectations": checks}, table)


def _raised(evr) -> bool:
    return "'raised_exception': True" in str(evr.exception_info)


def _compare(spark, lake: str, table: str, checks: list[dict], exact: tuple[str, ...] = ()):
    """(disagreements, gate results by label, GX results by label) for one table and suite; the
    labels in `exact` are compared by the caller (GX's precision losses)."""
    suite = _suite(table, checks)
    df = spark.read.format("delta").load(f"{lake}/silver/{table}")
    refs = engine.reference_frames(spark, lake, suite)
    _, results = engine.gate(df, suite, refs, TODAY)
    # GX has no cross-table expectation: its oracle for a referential check is ExpectColumnValuesToBeInSet
    # over the reference's values, collected here (the test's small reference; the gate joins instead).
    values = {label: [r[0] for r in frame.collect()] for label, frame in refs.items()}
    gx = engine.gx_validate(df, suite, values, result_format="SUMMARY", today=TODAY)
    by_gx = {r.expectation_config.meta["deplat_check"]: r for r in gx.results}
    problems = []
    for r in results:
        g = by_gx[r.expectation]
        res = g.result or {}
        if r.expectation in exact:
            continue
        if r.success and not g.success:
            problems.append(f"FALSE PASS {table} {r.expectation}: gate passed, GX failed {res} {g.exception_info}")
        elif r.success != g.success:
            problems.append(f"verdict {table} {r.expectation}: gate {r.success}, GX {g.success} {res}")
        if res.get("unexpected_count") is not None and res["unexpected_count"] != r.unexpected_count:
            problems.append(f"count {table} {r.expectation}: gate {r.unexpected_count}, GX {res['unexpected_count']}")
        if res.get("unexpected_percent") is not None and r.unexpected_percent is not None \
                and not math.isclose(res["unexpected_percent"], r.unexpected_percent, abs_tol=1e-3):
            problems.append(f"percent {table} {r.expectation}: gate {r.unexpected_percent}, GX "
                            f"{res['unexpected_percent']}")
        if r.kind == "row_count" and res.get("observed_value") != r.observed:
            problems.append(f"rows {table}: gate {r.observed}, GX {res.get('observed_value')}")
    return problems, {r.expectation: r for r in results}, by_gx


@pytest.mark.parametrize("table", ["full", "empty", "nulls"])
def test_the_gate_gives_gx_verdict_and_counts_on_adversarial_tables(spark, tables, table):
    problems, gate, gx = _compare(spark, tables, table, CHECKS)
    assert problems == []
    assert len(gate) == len(CHECKS)
    # GX computed every one (not a vacuous agreement on exceptions), but where the newest text of a date
    # column is no date ('garbage'): GX cannot parse it, the gate fails it too.
    computed = {label for label, g in gx.items() if {"unexpected_count", "observed_value"} & set(g.result or {})
                and not _raised(g)}
    assert set(gx) - computed <= {"fresh_garbage"}
    if "fresh_garbage" in gx:
        assert gx["fresh_garbage"].success is False and gate["fresh_garbage"].success is False
    if table == "full":  # the oracle is not vacuous: both fail and pass plenty, on every kind
        failed = {r.kind for r in gate.values() if not r.success}
        passed = {r.kind for r in gate.values() if r.success}
        assert failed >= {"not_null", "unique", "between", "in_set", "regex", "row_count", "freshness", "referential"}
        assert passed >= {"unique", "between", "in_set", "regex", "row_count", "freshness"}  # not_null: "empty"
    if table == "empty":  # GX reports no counts on it; both fail row_count and freshness, pass the rest
        assert gate["row_count"].success is False and gate["unique(id)"].success is True
        assert {r.kind for r in gate.values() if not r.success} == {"row_count", "freshness"}


def test_compound_key_with_null_parts_and_duplicates_count_every_row(spark, tables):
    checks = [{"check": "unique", "columns": ["k1", "k2"]}, {"check": "unique", "column": "id"}]
    problems, gate, gx = _compare(spark, tables, "full", checks)
    assert problems == []
    # (A,1), (A,NULL), (B,2), (C,4) twice each: 8 rows; the two all-NULL keys are skipped, as GX does
    assert gate["unique(k1,k2)"].unexpected_count == 8 and gx["unique(k1,k2)"].result["unexpected_count"] == 8
    assert gate["unique(id)"].unexpected_count == 2  # id 1 twice: both rows, as GX counts


def test_where_gx_loses_precision_deplat_is_exact(spark, tables):
    _, gate, gx = _compare(spark, tables, "full", PRECISION, exact=("id_2_53", "dec_1"))
    assert gate["id_2_53"].unexpected_count == 1 and gx["id_2_53"].success is True  # GX: 2**53+1 <= 2.0**53
    assert gate["dec_1"].unexpected_count == 2                       # 1.000000000000000001 and 2 exceed 1
    assert gx["dec_1"].result["unexpected_count"] == 1                # GX: 1.000000000000000001 -> 1.0
    _, gate, gx = _compare(spark, tables, "one", [ROWS_1_5], exact=("rows_1_5",))
    assert gate["rows_1_5"].success is False and gx["rows_1_5"].success is True  # GX truncates 1.5 to 1


@pytest.mark.parametrize("check", [
    {"check": "freshness", "column": "i", "max_age_days": 3},
    {"check": "between", "column": "id", "min": "2026-01-01"},
    {"check": "between", "column": "dt", "min": 0},
])
def test_a_check_its_column_type_cannot_take_is_refused_and_gx_fails_it_too(spark, tables, check):
    suite = _suite("full", [check])
    df = spark.read.format("delta").load(f"{tables}/silver/full")
    with pytest.raises(SuiteError, match="type|freshness needs"):
        engine.gate(df, suite, {}, TODAY)
    gx = engine.gx_validate(df, suite, {}, result_format="SUMMARY", today=TODAY)
    assert gx.results[0].success is False  # GX raises on it: no pass either way


PATTERNS = [r"^[A-Z]{3}$", r"(?P<x>a)", r"(?P=x)", r"(?<n>a)\k<n>", r"a{,3}", r"a{2,}", r"x{abc}", r"{1}",
            r"(?#c)a", r"(?(1)a|b)", r"(?a)\w", r"(?L)a", r"(?u)a", r"(?imsx)a", r"\U0001F600", r"\x{1F600}",
            r"\p{Lu}", r"\pL", r"\h\R", r"a\0", r"a\01", r"[]a]", r"[^]a]", r"[a-z&&[^e]]", r"\Qa{b\E",
            r"a*+", r"(?>a)", r"\N{LATIN SMALL LETTER A}", r"\d+\.\d*", r"(ab", r"a)", r"[a", r"*a", r"\k<q>",
            r"a{3}{2}", r"\Z", r"\z", r"(?<=a)b", r"(?<!a)b", r"(?!a)", r"\bword\b", r"[[:alpha:]]", r"\e\cA",
            r"{", r"a{", r"a}", r"x{1,2}{3}", r"a**", r"a??", r"a{2}+", r"(?<a_b>x)", r"(?<ab1>x)",
            r"[\p{L}&&[^a]]", r"(?U)\w", r"(?d)a", r"\0101", r"[a-]", r"[]", r"[^]", r"a|*", r"(?i-s:a)", r"\Ga",
            r"\b{g}", r"\X", r"\N{DOES NOT EXIST}", r"(?<!a{1,3})b", r"(?<=a*)b", r"\c", r"\x4", r"\u00e9",
            r"\x41", r"\v", r"\1", r"(a)\2"]


def test_the_suite_reader_accepts_exactly_the_patterns_java_compiles(spark):
    jvm = spark.sparkContext._jvm
    disagree = []
    for p in PATTERNS:
        try:
            jvm.java.util.regex.Pattern.compile(p)
            java_ok = True
        except Exception:  # py4j's Py4JJavaError wrapping PatternSyntaxException
            java_ok = False
        ours = regex_problem(p)
        if (ours is None) != java_ok:
            disagree.append((p, java_ok, ours))
    assert disagree == []


def test_the_job_side_compiles_patterns_with_java_before_any_scan(spark, tables):
    from deplat_job.dq.suite import Check, Suite

    bad = Suite("x", "silver.full", (Check("regex", ("s",), {"pattern": "(?P<x>a)"}),))
    df = spark.read.format("delta").load(f"{tables}/silver/full")
    with pytest.raises(SuiteError, match="not a Java regex"):
        engine.gate(df, bad, {}, TODAY)
