"""DQ suites: the `dq/suites/*.yml` format, its validation, and each check's Great Expectations (GX) 1.x
expectation.

Used on both sides: the CLI loads and validates YAML; the `dq_check` job receives the suites as JSON.
Python 3.9-compatible (the job runs on EMR's Python 3.9); imports neither pyspark nor GX at module
level.

A suite::

    table: silver.fx_rates            # <layer>.<table> in the lake
    description: ...                  # optional
    expectations:
      - check: not_null               # one column
        column: ccy
      - check: unique                 # `column`, or `columns` for a compound key
        columns: [ccy, as_of_date]
      - check: between                # min and/or max; strict_min / strict_max optional
        column: rate_to_base
        min: 0
        strict_min: true
      - check: in_set
        column: rate_category
        values: [reference]
      - check: regex                  # Spark `rlike` (Java regex), unanchored unless ^...$
        column: ccy
        pattern: '^[A-Z]{3}$'
      - check: row_count              # min and/or max rows
        min: 1
      - check: freshness              # newest value of a date column at most max_age_days old (UTC)
        column: as_of_date
        max_age_days: 7
        severity: warn
      - check: referential            # every non-null value is present in another table's column
        column: currency
        ref_table: silver.fx_rates
        ref_columns: [ccy, base_ccy]  # or ref_column: ccy

Every check takes `severity: error|warn` (default error) and an optional `name`. Null values are not
judged by between / in_set / regex / referential (GX's column-map semantics); use not_null for them.

Bounds are read as GX 1.x reads them (its pydantic fields): a quoted number is a number, an ISO date
string a date; anything else (a word, a boolean, NaN) is refused, as is `min > max`. Unlike GX,
deplat keeps numbers exact: an integer stays an integer (GX makes 2**53+1 a float), a decimal literal
a Decimal (GX makes 1.000000000000000001 the float 1.0), `row_count min: 1.5` means at least 2 rows
(GX truncates it to 1). A `regex` is a Java regex (Spark's `rlike`, what GX runs on Spark too):
Python-only syntax Java refuses (`(?P<x>...)`, `(?P=x)`, `(?#...)`, `(?(1)a|b)`, `{,n}`, a bare `{`,
the flags `a` and `L`, `\\U0001F600`) is refused when the suite is read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SEVERITIES = ("error", "warn")
GX_SEVERITY = {"error": "critical", "warn": "warning"}  # GX 1.x ExpectationConfiguration.severity

# check -> (required keys, optional keys) besides check/severity/name
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "not_null": (("column",), ()),
    "unique": ((), ("column", "columns")),
    "between": (("column",), ("min", "max", "strict_min", "strict_max")),
    "in_set": (("column", "values"), ()),
    "regex": (("column", "pattern"), ()),
    "row_count": ((), ("min", "max")),
    "freshness": (("column", "max_age_days"), ()),
    "referential": (("column", "ref_table"), ("ref_column", "ref_columns")),
}
CHECKS = tuple(_KEYS)
_TABLE = re.compile(r"^(bronze|silver|gold)\.[A-Za-z_][A-Za-z0-9_]*$")


class SuiteError(ValueError):
    """A suite that cannot run: bad format, unknown check, or a column the table does not have."""


_INT = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_INF = {"inf": math.inf, "+inf": math.inf, "infinity": math.inf, "+infinity": math.inf, ".inf": math.inf,
        "-inf": -math.inf, "-infinity": -math.inf, "-.inf": -math.inf}
SPARK_MAX_DIGITS = 38  # a Spark decimal literal holds at most 38 digits


def _exact(value: Decimal, what: str) -> Any:
    if value.is_nan():
        raise SuiteError(f"{what} is NaN")
    if value.is_infinite():
        return float(value)
    if value == value.to_integral_value():
        return parse_bound(int(value), what)
    if len(value.as_tuple().digits) > SPARK_MAX_DIGITS:
        raise SuiteError(f"{what} {value} has more than {SPARK_MAX_DIGITS} digits (Spark's decimal limit)")
    return value


def parse_bound(value: Any, what: str, dates: bool = True) -> Any:
    """A `between`/`row_count` bound as deplat compares it: int, Decimal, float (only +-inf or a float
    given as such), date or datetime.

    Coerced as GX 1.x's pydantic fields coerce it (`Comparable = float | date | datetime`): a quoted
    number is a number, an ISO date or date-time string a date or datetime. Refused (SuiteError) where
    GX refuses, plus booleans and NaN. Numbers stay exact where GX makes floats of them: an integral
    value is an int (2**53+1), a decimal literal a Decimal (1.000000000000000001); `dates=False`
    (row_count) refuses dates.
    """
    if isinstance(value, bool) or value is None:
        raise SuiteError(f"{what} must be a number{' or a date' if dates else ''}, got {value!r}")
    if isinstance(value, int):
        if len(str(abs(value))) > SPARK_MAX_DIGITS:
            raise SuiteError(f"{what} {value} has more than {SPARK_MAX_DIGITS} digits (Spark's decimal limit)")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise SuiteError(f"{what} is NaN")
        return value if math.isinf(value) else _exact(Decimal(repr(value)), what)
    if isinstance(value, Decimal):
        return _exact(value, what)
    if isinstance(value, (date, datetime)):
        if not dates:
            raise SuiteError(f"{what} must be a number, got the date {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INT.match(text):
            return int(text)
        if _NUMBER.match(text):
            return _exact(Decimal(text), what)
        if text.lower() in _INF:
            return _INF[text.lower()]
        if dates:
            try:
                return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
            except ValueError:
                pass
    kinds = "a number or an ISO date (YYYY-MM-DD[ HH:MM:SS])" if dates else "a number"
    raise SuiteError(f"{what} must be {kinds}, got {value!r}")


def _ordered(lo: Any, hi: Any, where: str) -> None:
    """SuiteError unless lo <= hi (both numbers, or both dates/date-times)."""
    if lo is None or hi is None:
        return
    if isinstance(lo, (date, datetime)) != isinstance(hi, (date, datetime)):
        raise SuiteError(f"{where}: `min` {lo!r} and `max` {hi!r} must be both numbers or both dates")
    a, b = lo, hi
    if isinstance(a, datetime) != isinstance(b, datetime):  # a date is its midnight
        a, b = [x if isinstance(x, datetime) else datetime(x.year, x.month, x.day) for x in (a, b)]
    try:
        wrong = a > b
    except TypeError:  # a naive and an aware date-time
        raise SuiteError(f"{where}: `min` and `max` must both carry a time zone, or neither") from None
    if wrong:
        raise SuiteError(f"{where}: `min` {lo} is greater than `max` {hi} (GX refuses such a range)")


_PY_ONLY_FLAGS = set("aL")


def java_regex_problem(pattern: str) -> str | None:
    """Why Java's `Pattern.compile` (Spark `rlike`) would refuse a pattern Python's `re` accepts, or None.

    Covers Python-only syntax: named groups and backreferences `(?P<x>...)`, `(?P=x)`; conditionals
    `(?(1)a|b)`; comments `(?#...)`; the inline flags a and L; `{,n}` and any other `{` that is not a
    Java quantifier `{n}`, `{n,}`, `{n,m}`; `\\U` escapes; a lone `\\0`. Checked against
    java.util.regex in tests/integration/deplat_job/dq/test_engine_gx_differential.py.
    """
    return _scan(pattern)[0]


def _scan(pattern: str) -> tuple[str | None, str]:
    """(java_regex_problem, the pattern in a shape Python's re can syntax-check the rest of): Java's
    quantifiers become `?` (Java repeats a quantifier, `a{3}{2}`, or an empty start, `{1}`; Python
    does neither), quoted and property escapes a plain `x`."""
    out: list[str] = []
    i, n, depth, state = 0, len(pattern), 0, "start"  # state: what the last token was (start|atom|quant)
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt == "Q":  # \Q...\E quotes everything up to \E
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                out.append("x")
                state = "atom"
                continue
            if nxt == "U":
                return "\\U escapes are Python-only (Java writes \\x{1F600})", ""
            if nxt == "0" and not pattern[i + 2:i + 3].isdigit():
                return "a lone \\0 is Python-only (Java needs an octal digit after it: \\00)", ""
            if nxt in ("p", "P", "x", "N", "b") and pattern[i + 2:i + 3] == "{":  # \p{Lu} \x{1F600} \b{g}
                end = pattern.find("}", i + 3)
                token, i = pattern[i:n if end < 0 else end + 1], n if end < 0 else end + 1
                out.append(token if nxt == "N" else "x")  # Python's re checks a \N{name} as Java does
                state = "atom"
                continue
            if nxt in "123456789":  # Java takes a backreference to a group the pattern lacks; Python not
                i += 2
                while i < n and pattern[i].isdigit():
                    i += 1
                out.append("x")
                state = "atom"
                continue
            out.append(pattern[i:i + 2])
            i += 2
            state = "atom"
            continue
        if depth:
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            out.append(c)
            i += 1
            continue
        if c == "[":
            depth = 1
            j = i + 1
            if pattern[j:j + 1] == "^":
                j += 1
            if pattern[j:j + 1] == "]":  # a leading ] is a literal, in Java as in Python
                j += 1
            out.append(pattern[i:j])
            i, state = j, "atom"
            continue
        if c == "(" and pattern[i + 1:i + 2] == "?":
            ext = pattern[i + 2:i + 4]
            if ext[:1] == "P":
                return "(?P<name>...) / (?P=name) are Python-only (Java: (?<name>...) and \\k<name>)", ""
            if ext[:1] == "(":
                return "conditional groups (?(id)yes|no) are Python-only", ""
            if ext[:1] == "#":
                return "comments (?#...) are Python-only", ""
            m = re.match(r"[a-zA-Z-]+", pattern[i + 2:])
            if m and set(m.group(0)) & _PY_ONLY_FLAGS:
                return f"inline flag(s) {sorted(set(m.group(0)) & _PY_ONLY_FLAGS)} are Python-only", ""
        if c == "{":
            m = re.match(r"\{[0-9]+(,[0-9]*)?\}", pattern[i:])
            if not m:
                return f"{{ at {i} is not a Java quantifier {{n}}, {{n,}}, {{n,m}} (escape a literal one: \\{{)", ""
            i += len(m.group(0))
            if pattern[i:i + 1] == "+":  # possessive
                i += 1
            if state == "atom":
                out.append("?")
            state = "quant"
            continue
        if c == "(":
            m = re.match(r"\(\?([a-zA-Z-]*[:)]|<[A-Za-z][A-Za-z0-9]*>|[=!>]|<[=!])", pattern[i:])
            token = m.group(0) if m else "("
            i += len(token)
            if token in ("(?<=", "(?<!"):  # Java's look-behind may vary in width; Python's may not
                token = "(?:"
            elif m and m.group(1)[-1:] in ":)" and m.group(1)[:-1]:  # inline flags: Java's d and U are Python's none
                flags = m.group(1)[:-1].replace("d", "").replace("U", "")
                token = f"(?{flags}{m.group(1)[-1]}" if flags.strip("-") else ("(?:" if m.group(1)[-1] == ":" else "")
            out.append(token)
            state = "start"
            continue
        out.append(c)
        state = "start" if c == "|" else "quant" if c in "*+?" else "atom"
        i += 1
    return None, "".join(out)


_JAVA_ONLY = [  # Java syntax Python's re lacks, rewritten to an equivalent Python shape for the syntax check
    (re.compile(r"\\[pP][A-Za-z]"), "x"),
    (re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>"), r"(?P<\1>"),
    (re.compile(r"\\k<([A-Za-z][A-Za-z0-9]*)>"), r"(?P=\1)"),
    (re.compile(r"\\[hHvVRXGze]|\\c[A-Za-z]"), "x"),
    (re.compile(r"([*+?])\+"), r"\1"),  # possessive quantifiers (Python >= 3.11 only)
    (re.compile(r"\(\?>"), "(?:"),  # atomic groups (Python >= 3.11 only)
    (re.compile(r"&&"), ""),  # class intersection
]


def regex_problem(pattern: Any) -> str | None:
    """Why a `regex` check's pattern cannot run as a Java regex, or None (see java_regex_problem)."""
    if not isinstance(pattern, str) or not pattern:
        return "the pattern must be a non-empty string"
    problem, text = _scan(pattern)
    if problem:
        return problem
    for rx, repl in _JAVA_ONLY:
        text = rx.sub(repl, text)
    try:
        re.compile(text)
    except re.error as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Check:
    """One expectation of a suite, in deplat's terms (see the module docstring)."""

    kind: str
    columns: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"
    name: str = ""

    @property
    def label(self) -> str:
        """A stable, human-readable id: `not_null(ccy)`, `unique(ccy,as_of_date)`, `row_count`."""
        if self.name:
            return self.name
        cols = ",".join(self.columns)
        if self.kind == "referential":
            return f"referential({cols} -> {self.params['ref_table']}.{'|'.join(self.ref_columns)})"
        return f"{self.kind}({cols})" if cols else self.kind

    @property
    def column(self) -> str | None:
        return self.columns[0] if len(self.columns) == 1 else None

    @property
    def ref_columns(self) -> tuple[str, ...]:
        return tuple(self.params.get("ref_columns") or ([self.params["ref_column"]]
                                                         if self.params.get("ref_column") else self.columns))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns), "params": self.params,
                "severity": self.severity, "name": self.name}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Check:
        """The Check `to_dict` gave (via the job's JSON: bounds come back exact, see normalize_params)."""
        params = normalize_params(doc["kind"], dict(doc["params"]), doc.get("name") or doc["kind"])
        return cls(doc["kind"], tuple(doc["columns"]), params, doc["severity"], doc.get("name", ""))

    def gx_expectation(self, ref_values: list[Any] | None = None, type_name: str = "", today: Any = None):
        """This check as a GX 1.x expectation (needs great_expectations; imported here, lazily).

        referential becomes ExpectColumnValuesToBeInSet over the referenced table's values:
        `ref_values` when given (a test oracle's small list), else a suite parameter naming the
        referenced column(s) (`{"$PARAMETER": "ref silver.t.col"}`: the job joins on the engine and
        never holds the values, see deplat_job.dq.engine); freshness becomes ExpectColumnMaxToBeBetween with a date
        lower bound (today, UTC, minus max_age_days), its midnight on a timestamp column (`type_name`):
        GX cannot compare a timestamp with a date.
        """
        import great_expectations as gx

        e = gx.expectations
        # A str ("critical"/"warning"): GX's pydantic models coerce it to the FailureSeverity enum their
        # constructors are annotated with; the str keeps this module free of GX imports at its top.
        sev: Any = GX_SEVERITY[self.severity]
        p = self.params
        if self.kind == "not_null":
            return e.ExpectColumnValuesToNotBeNull(column=self.columns[0], severity=sev)
        if self.kind == "unique":
            if len(self.columns) == 1:
                return e.ExpectColumnValuesToBeUnique(column=self.columns[0], severity=sev)
            return e.ExpectCompoundColumnsToBeUnique(column_list=list(self.columns), severity=sev)
        if self.kind == "between":
            return e.ExpectColumnValuesToBeBetween(
                column=self.columns[0], min_value=p.get("min"), max_value=p.get("max"),
                strict_min=bool(p.get("strict_min", False)), strict_max=bool(p.get("strict_max", False)),
                severity=sev)
        if self.kind == "in_set":
            return e.ExpectColumnValuesToBeInSet(column=self.columns[0], value_set=list(p["values"]), severity=sev)
        if self.kind == "regex":
            return e.ExpectColumnValuesToMatchRegex(column=self.columns[0], regex=p["pattern"], severity=sev)
        if self.kind == "row_count":
            return e.ExpectTableRowCountToBeBetween(min_value=p.get("min"), max_value=p.get("max"), severity=sev)
        if self.kind == "freshness":
            floor = freshness_floor(self, today)
            if type_family(type_name) == "timestamp":
                floor = datetime(floor.year, floor.month, floor.day)
            return e.ExpectColumnMaxToBeBetween(column=self.columns[0], min_value=floor, severity=sev)
        if self.kind == "referential":
            value_set = (list(ref_values) if ref_values is not None else
                         {"$PARAMETER": f"ref {p['ref_table']}.{'|'.join(self.ref_columns)}"})
            return e.ExpectColumnValuesToBeInSet(column=self.columns[0], value_set=value_set, severity=sev)
        raise SuiteError(f"unknown check {self.kind!r}")


_NUMERIC = ("byte", "tinyint", "short", "smallint", "int", "integer", "long", "bigint", "float", "real", "double")


def type_family(type_name: str) -> str:
    """number | string | date | timestamp | boolean | other, for a Spark (`simpleString`) or Delta
    log type name (`integer`, `long`, `decimal(10,2)`, `timestamp_ntz`, ...)."""
    t = (type_name or "").strip().lower()
    if t in _NUMERIC or t.startswith("decimal"):
        return "number"
    if t == "string" or t.startswith(("varchar", "char")):
        return "string"
    if t == "date":
        return "date"
    if t.startswith("timestamp"):
        return "timestamp"
    if t == "boolean":
        return "boolean"
    return "other"


def type_problem(check: Check, type_name: str) -> str | None:
    """Why `check` cannot run on a column of this type, or None. A number bound needs a number column
    or a text one (Spark casts the text, as under GX); a date bound a date, timestamp or text column;
    freshness a date, timestamp or text column (GX parses the newest text as a date; an integer it
    cannot read at all)."""
    family = type_family(type_name)
    if check.kind == "between":
        for key in ("min", "max"):
            bound = check.params.get(key)
            if bound is None:
                continue
            allowed = ("date", "timestamp", "string") if isinstance(bound, (date, datetime)) else ("number", "string")
            if family not in allowed:
                what = "date" if isinstance(bound, (date, datetime)) else "number"
                return f"{check.label}: a {what} bound ({key}: {bound}) on {check.columns[0]!r} of type {type_name}"
    if check.kind == "freshness" and family not in ("date", "timestamp", "string"):
        return (f"{check.label}: freshness needs a date, timestamp or date-text column; "
                f"{check.columns[0]!r} is {type_name}")
    return None


def freshness_floor(check: Check, today: Any = None):
    """The oldest acceptable newest date of a freshness check: today (UTC) - max_age_days."""
    from datetime import datetime, timedelta, timezone

    today = today or datetime.now(timezone.utc).date()
    return today - timedelta(days=int(check.params["max_age_days"]))


@dataclass(frozen=True)
class Suite:
    """A named list of checks on one lake table."""

    name: str
    table: str  # <layer>.<table>
    checks: tuple[Check, ...]
    description: str = ""
    source: str = ""  # the file it came from

    @property
    def layer(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def columns(self) -> list[str]:
        """Every column of `table` the suite names, in first-use order."""
        seen: dict[str, None] = {}
        for c in self.checks:
            for col in c.columns:
                seen.setdefault(col, None)
        return list(seen)

    @property
    def ref_tables(self) -> dict[str, list[str]]:
        """Referenced table -> the columns of it the suite reads."""
        out: dict[str, list[str]] = {}
        for c in self.checks:
            if c.kind == "referential":
                cols = out.setdefault(c.params["ref_table"], [])
                cols.extend(x for x in c.ref_columns if x not in cols)
        return out

    def missing_columns(self, schemas: dict[str, list[str]]) -> list[str]:
        """`table.column` names the suite uses that `schemas` (table -> column names) lacks."""
        missing = [f"{self.table}.{c}" for c in self.columns if c not in schemas.get(self.table, [])]
        for ref, cols in self.ref_tables.items():
            missing += [f"{ref}.{c}" for c in cols if c not in schemas.get(ref, [])]
        return missing

    def type_problems(self, types: dict[str, dict[str, str]]) -> list[str]:
        """Checks that cannot run on their column's type (`types`: table -> column -> type name)."""
        cols = types.get(self.table, {})
        problems = (type_problem(c, cols[c.columns[0]]) for c in self.checks
                    if len(c.columns) == 1 and c.columns[0] in cols)
        return [p for p in problems if p]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "table": self.table, "description": self.description,
                "source": self.source, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Suite:
        return cls(doc["name"], doc["table"], tuple(Check.from_dict(c) for c in doc["checks"]),
                   doc.get("description", ""), doc.get("source", ""))

    def gx_suite(self, ref_values: dict[str, list[Any]] | None = None, only: list[str] | None = None,
                 types: dict[str, str] | None = None, today: Any = None):
        """The GX 1.x ExpectationSuite (labels in each expectation's `meta.deplat_check`); `types`:
        column -> type name of the table (see gx_expectation)."""
        import great_expectations as gx

        suite = gx.ExpectationSuite(name=self.name)
        for c in self.checks:
            if only is not None and c.label not in only:
                continue
            exp = c.gx_expectation((ref_values or {}).get(c.label), (types or {}).get(c.column or "", ""), today)
            exp.meta = {"deplat_check": c.label}
            suite.add_expectation(exp)
        return suite


def parse_suite(doc: Any, name: str, source: str = "") -> Suite:
    """A Suite from a parsed YAML document; SuiteError naming the first problem."""
    where = source or name
    if not isinstance(doc, dict):
        raise SuiteError(f"{where}: a suite is a mapping with `table` and `expectations`")
    unknown = set(doc) - {"table", "expectations", "description", "name"}
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {sorted(unknown)}")
    table = doc.get("table")
    if not isinstance(table, str) or not _TABLE.match(table):
        raise SuiteError(f"{where}: `table` must be <bronze|silver|gold>.<table>, got {table!r}")
    items = doc.get("expectations")
    if not isinstance(items, list):
        raise SuiteError(f"{where}: `expectations` must be a list")
    checks = tuple(_parse_check(item, f"{where} expectation {i + 1}") for i, item in enumerate(items))
    labels = [c.label for c in checks]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise SuiteError(f"{where}: duplicate expectations {dupes} (give one a `name`)")
    return Suite(str(doc.get("name") or name), table, checks, str(doc.get("description") or ""), source)


def _parse_check(item: Any, where: str) -> Check:
    if not isinstance(item, dict) or "check" not in item:
        raise SuiteError(f"{where}: each expectation is a mapping with `check: <{'|'.join(CHECKS)}>`")
    kind = item["check"]
    if kind not in _KEYS:
        raise SuiteError(f"{where}: unknown check {kind!r}; known: {', '.join(CHECKS)}")
    required, optional = _KEYS[kind]
    given = set(item) - {"check", "severity", "name"}
    missing = [k for k in required if k not in item]
    extra = sorted(given - set(required) - set(optional))
    if missing or extra:
        raise SuiteError(f"{where} ({kind}): " + "; ".join(
            ([f"missing {missing}"] if missing else []) + ([f"unknown {extra}"] if extra else [])))
    severity = item.get("severity", "error")
    if severity not in SEVERITIES:
        raise SuiteError(f"{where} ({kind}): severity must be error or warn, got {severity!r}")
    params = {k: item[k] for k in given if k not in ("column", "columns")}
    if "column" in item and "columns" in item:
        raise SuiteError(f"{where} ({kind}): give `column` or `columns`, not both")
    cols = item.get("columns", [item["column"]] if "column" in item else [])
    if isinstance(cols, str) or not all(isinstance(c, str) and c for c in cols):
        raise SuiteError(f"{where} ({kind}): `columns` must be a list of column names")
    if kind == "unique" and not cols:
        raise SuiteError(f"{where} (unique): give `column` or `columns`")
    if kind in ("between", "row_count") and params.get("min") is None and params.get("max") is None:
        raise SuiteError(f"{where} ({kind}): give `min`, `max` or both")
    params = normalize_params(kind, params, where)
    if kind == "in_set" and not isinstance(params["values"], list):
        raise SuiteError(f"{where} (in_set): `values` must be a list")
    if kind == "regex":
        problem = regex_problem(params["pattern"])
        if problem:
            raise SuiteError(f"{where} (regex): pattern {params['pattern']!r} is not a Java regex "
                             f"(Spark rlike): {problem}")
    if kind == "freshness" and (isinstance(params["max_age_days"], bool) or not isinstance(params["max_age_days"], int)
                                or params["max_age_days"] < 0):
        raise SuiteError(f"{where} (freshness): `max_age_days` must be a whole number >= 0")
    if kind == "referential":
        if not _TABLE.match(str(params["ref_table"])):
            raise SuiteError(f"{where} (referential): `ref_table` must be <layer>.<table>")
        if len(cols) != 1:
            raise SuiteError(f"{where} (referential): one `column`")
    return Check(kind, tuple(cols), params, severity, str(item.get("name") or ""))


def _plain(value: Any) -> Any:
    """YAML's exact decimals back to floats outside bounds (in_set values compare as YAML gave them)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def normalize_params(kind: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """A check's parameters as the engine uses them: bounds parsed exactly (parse_bound) and ordered,
    strict flags booleans. Idempotent, so the job side re-reads the suites' JSON to the same values."""
    out = {k: (v if k in ("min", "max") else _plain(v)) for k, v in params.items()}
    if kind in ("between", "row_count"):
        for key in ("min", "max"):
            if out.get(key) is not None:
                try:
                    out[key] = parse_bound(out[key], f"`{key}`", dates=kind == "between")
                except SuiteError as exc:
                    raise SuiteError(f"{where} ({kind}): {exc}") from None
        _ordered(out.get("min"), out.get("max"), f"{where} ({kind})")
        for key in ("strict_min", "strict_max"):
            if key in out and not isinstance(out[key], bool):
                raise SuiteError(f"{where} ({kind}): `{key}` must be true or false, got {out[key]!r}")
    return out


def _exact_yaml_loader():
    """yaml.SafeLoader whose floats are Decimals of the literal text (1.000000000000000001 stays exact)."""
    import yaml

    class ExactLoader(yaml.SafeLoader):
        pass

    def construct(loader: Any, node: Any) -> Any:
        text = loader.construct_scalar(node).replace("_", "")
        try:
            return Decimal(text)
        except InvalidOperation:  # .inf, .nan
            return loader.construct_yaml_float(node)

    ExactLoader.add_constructor("tag:yaml.org,2002:float", construct)
    return ExactLoader


def load_suite(path: Path) -> Suite:
    """Parse one suite file (YAML); SuiteError on a missing file or bad content."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist")
    try:
        doc = yaml.load(path.read_text(), Loader=_exact_yaml_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None
    return parse_suite(doc, path.stem, str(path))


def encode_suites(suites: list[Suite]) -> str:
    """The suites as one compact JSON argument for the dq_check job."""
    return json.dumps([s.to_dict() for s in suites], separators=(",", ":"), default=str)


def decode_suites(text: str) -> list[Suite]:
    return [Suite.from_dict(d) for d in json.loads(text)]
