"""Suites GX 1.x would refuse, or that Java's regex would refuse, are refused when read (exit 2);
bounds are coerced as GX coerces them but kept exact; a check that cannot run on its column's type
is refused from the Delta schema before any job (issue 23 part 1). No JVM."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from deplat_job.dq.suite import SuiteError, decode_suites, encode_suites, load_suite, parse_suite, regex_problem


def _one(check: dict):
    return parse_suite({"table": "silver.t", "expectations": [check]}, "t").checks[0]


@pytest.mark.parametrize(("check", "message"), [
    ({"check": "between", "column": "a", "min": 5, "max": 1}, "greater than `max`"),
    ({"check": "between", "column": "a", "min": "2024-02-01", "max": "2024-01-01"}, "greater than `max`"),
    ({"check": "row_count", "min": 10, "max": 2}, "greater than `max`"),
    ({"check": "between", "column": "a", "min": "ten"}, "must be a number or an ISO date"),
    ({"check": "between", "column": "a", "max": ""}, "must be a number or an ISO date"),
    ({"check": "between", "column": "a", "min": True}, "must be a number"),
    ({"check": "between", "column": "a", "min": float("nan")}, "NaN"),
    ({"check": "between", "column": "a", "min": 1, "max": "2024-01-01"}, "both numbers or both dates"),
    ({"check": "between", "column": "a", "min": 1, "strict_min": "yes"}, "true or false"),
    ({"check": "between", "column": "a", "max": 10 ** 40}, "more than 38 digits"),
    ({"check": "between", "column": "a", "max": "1e400"}, "more than 38 digits"),
    ({"check": "row_count", "min": "many"}, "must be a number"),
    ({"check": "row_count", "min": date(2024, 1, 1)}, "must be a number"),
    ({"check": "freshness", "column": "d", "max_age_days": True}, "whole number"),
    ({"check": "regex", "column": "a", "pattern": "^(?P<cc>[A-Z]{3})$"}, "(?P<name>...)"),
    ({"check": "regex", "column": "a", "pattern": "(?P<x>a)(?P=x)"}, "Python-only"),
    ({"check": "regex", "column": "a", "pattern": "a{,3}"}, "not a Java quantifier"),
    ({"check": "regex", "column": "a", "pattern": "{abc}"}, "not a Java quantifier"),
    ({"check": "regex", "column": "a", "pattern": "(?#note)a"}, "comments"),
    ({"check": "regex", "column": "a", "pattern": "(?(1)a|b)"}, "conditional"),
    ({"check": "regex", "column": "a", "pattern": "(?a)\\w"}, "inline flag"),
    ({"check": "regex", "column": "a", "pattern": "\\U0001F600"}, "\\U"),
    ({"check": "regex", "column": "a", "pattern": "a\\0"}, "\\0"),
    ({"check": "regex", "column": "a", "pattern": "\\N{NO SUCH NAME}"}, "not a Java regex"),
    ({"check": "regex", "column": "a", "pattern": "(ab"}, "not a Java regex"),
])
def test_a_suite_gx_or_java_would_refuse_is_refused_when_read(check, message):
    with pytest.raises(SuiteError) as exc:
        _one(check)
    assert message in str(exc.value)


@pytest.mark.parametrize("pattern", [r"^\p{Lu}{3}$", r"(?<cc>[A-Z]{3})\k<cc>", r"\Qa.b{\E", r"[a-z&&[^e]]+",
                                     r"a*+b", r"(?>ab)c", r"\h\R", r"\x{41}", r"^[A-Z]{3}$", r"(?i)eur|usd",
                                     r"[]a]", r"(?U)\w", r"(?<=a*)b", r"\1", r"{1}", r"a{3}{2}", r"\b{g}"])
def test_java_regex_syntax_python_lacks_is_accepted(pattern):
    assert regex_problem(pattern) is None
    assert _one({"check": "regex", "column": "a", "pattern": pattern}).params["pattern"] == pattern


def test_bounds_are_coerced_as_gx_does_but_stay_exact():
    c = _one({"check": "between", "column": "a", "min": "10", "max": " 20.5 "})
    assert c.params["min"] == 10 and isinstance(c.params["min"], int)
    assert c.params["max"] == Decimal("20.5")
    c = _one({"check": "between", "column": "d", "min": "2024-01-31", "max": "2024-02-01 12:00:00"})
    assert c.params["min"] == date(2024, 1, 31) and c.params["max"] == datetime(2024, 2, 1, 12)
    big = _one({"check": "between", "column": "a", "max": 2 ** 53 + 1})
    assert big.params["max"] == 2 ** 53 + 1 and float(big.params["max"]) == 2 ** 53  # GX's float would lose it
    rows = _one({"check": "row_count", "min": "5", "max": 1.5e3})
    assert rows.params == {"min": 5, "max": 1500}
    assert _one({"check": "row_count", "min": 1.5}).params["min"] == Decimal("1.5")  # GX truncates to 1
    assert _one({"check": "between", "column": "a", "max": ".inf"}).params["max"] == float("inf")


def test_exact_bounds_survive_yaml_and_the_jobs_json(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text("table: silver.t\nexpectations:\n"
                    "  - {check: between, column: a, min: 1.000000000000000001, max: 9007199254740993}\n"
                    "  - {check: between, column: d, min: 2024-01-31}\n"
                    "  - {check: in_set, column: x, values: [1.5, 2, a]}\n")
    suite = load_suite(path)
    exact, dated, in_set = suite.checks
    assert exact.params["min"] == Decimal("1.000000000000000001") and exact.params["max"] == 2 ** 53 + 1
    assert dated.params["min"] == date(2024, 1, 31)
    assert in_set.params["values"] == [1.5, 2, "a"] and isinstance(in_set.params["values"][0], float)
    assert decode_suites(encode_suites([suite])) == [suite]  # what the job receives is exact too


@pytest.mark.parametrize(("check", "column_type", "problem"), [
    ({"check": "between", "column": "a", "min": 0}, "string", None),      # Spark casts the text, as under GX
    ({"check": "between", "column": "a", "min": 0}, "decimal(18,2)", None),
    ({"check": "between", "column": "a", "min": 0}, "date", "a number bound"),
    ({"check": "between", "column": "a", "min": 0}, "boolean", "a number bound"),
    ({"check": "between", "column": "a", "min": "2024-01-01"}, "long", "a date bound"),
    ({"check": "between", "column": "a", "min": "2024-01-01"}, "timestamp_ntz", None),
    ({"check": "freshness", "column": "a", "max_age_days": 3}, "integer", "freshness needs a date"),
    ({"check": "freshness", "column": "a", "max_age_days": 3}, "string", None),
    ({"check": "freshness", "column": "a", "max_age_days": 3}, "timestamp", None),
])
def test_a_check_that_cannot_run_on_its_column_type_is_named(check, column_type, problem):
    suite = parse_suite({"table": "silver.t", "expectations": [check]}, "t")
    problems = suite.type_problems({"silver.t": {"a": column_type}})
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


def test_type_problems_exit_2_from_the_delta_schema_before_any_job(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    from deplat.core.console import NullReporter
    from deplat.dq.service import DqService
    from deplat_job.errors import ConfigError, ExitCode

    (tmp_path / "dq" / "suites").mkdir(parents=True)
    (tmp_path / "dq" / "suites" / "silver_t.yml").write_text(
        "table: silver.t\nexpectations:\n  - {check: freshness, column: yyyymmdd, max_age_days: 2}\n")
    ctx = SimpleNamespace(root=tmp_path, lake_uri=str(tmp_path / "lake"), reporter=NullReporter(),
                          env=SimpleNamespace(name="local", protected=False, region="us-east-1", endpoint_url=None))
    write_deltalake(f"{ctx.lake_uri}/silver/t", pa.table({"yyyymmdd": pa.array([20261128], pa.int64())}))
    with pytest.raises(ConfigError, match="freshness needs a date") as exc:
        DqService(ctx).gate_args(["silver.t"])
    assert exc.value.exit_code == ExitCode.USAGE
