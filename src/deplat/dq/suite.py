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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("error", "warn")
GX_SEVERITY = {"error": "critical", "warn": "warning"}  # GX 1.x ExpectationConfiguration.severity
REFERENTIAL_MAX_VALUES = 100_000  # referential checks are a set check; refs bigger than this are refused

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
        return cls(doc["kind"], tuple(doc["columns"]), dict(doc["params"]), doc["severity"], doc.get("name", ""))

    def gx_expectation(self, ref_values: list[Any] | None = None):
        """This check as a GX 1.x expectation (needs great_expectations; imported here, lazily).

        referential becomes ExpectColumnValuesToBeInSet over the referenced table's values
        (`ref_values`, read by the job); freshness becomes ExpectColumnMaxToBeBetween with an ISO
        date lower bound (today, UTC, minus max_age_days).
        """
        import great_expectations as gx

        e = gx.expectations
        sev = GX_SEVERITY[self.severity]
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
            return e.ExpectColumnMaxToBeBetween(column=self.columns[0], min_value=freshness_floor(self),
                                                severity=sev)
        if self.kind == "referential":
            return e.ExpectColumnValuesToBeInSet(column=self.columns[0], value_set=list(ref_values or []),
                                                 severity=sev)
        raise SuiteError(f"unknown check {self.kind!r}")


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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "table": self.table, "description": self.description,
                "source": self.source, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Suite:
        return cls(doc["name"], doc["table"], tuple(Check.from_dict(c) for c in doc["checks"]),
                   doc.get("description", ""), doc.get("source", ""))

    def gx_suite(self, ref_values: dict[str, list[Any]] | None = None, only: list[str] | None = None):
        """The GX 1.x ExpectationSuite (labels in each expectation's `meta.deplat_check`)."""
        import great_expectations as gx

        suite = gx.ExpectationSuite(name=self.name)
        for c in self.checks:
            if only is not None and c.label not in only:
                continue
            exp = c.gx_expectation((ref_values or {}).get(c.label))
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
    if kind == "in_set" and not isinstance(params["values"], list):
        raise SuiteError(f"{where} (in_set): `values` must be a list")
    if kind == "regex":
        try:
            re.compile(params["pattern"])
        except re.error as exc:
            raise SuiteError(f"{where} (regex): bad pattern {params['pattern']!r}: {exc}") from None
    if kind == "freshness" and (not isinstance(params["max_age_days"], int) or params["max_age_days"] < 0):
        raise SuiteError(f"{where} (freshness): `max_age_days` must be a whole number >= 0")
    if kind == "referential":
        if not _TABLE.match(str(params["ref_table"])):
            raise SuiteError(f"{where} (referential): `ref_table` must be <layer>.<table>")
        if len(cols) != 1:
            raise SuiteError(f"{where} (referential): one `column`")
    return Check(kind, tuple(cols), params, severity, str(item.get("name") or ""))


def load_suite(path: Path) -> Suite:
    """Parse one suite file (YAML); SuiteError on a missing file or bad content."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None
    return parse_suite(doc, path.stem, str(path))


def encode_suites(suites: list[Suite]) -> str:
    """The suites as one compact JSON argument for the dq_check job."""
    return json.dumps([s.to_dict() for s in suites], separators=(",", ":"), default=str)


def decode_suites(text: str) -> list[Suite]:
    return [Suite.from_dict(d) for d in json.loads(text)]
