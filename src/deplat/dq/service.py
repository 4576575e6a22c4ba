"""The DQ service behind `deplat dq` and the gate in `deplat run gold|all`.

A check runs the `dq_check` job through the run service (local Spark locally, EMR Serverless in the
cloud): the table is never pulled to the laptop. The CLI side only reads Delta metadata (schemas for
suite validation, versions), decides the verdict and publishes the CloudWatch metric the
`<prefix>-dq-failures` alarm watches (terraform/modules/monitoring: namespace from the
`metrics_namespace` output, metric `FailedSuites`, dimension `Environment`, Sum >= 1 over 5 min).

Exit codes: 0 pass, 5 an error-severity expectation failed, 6 only warnings with --fail-on warn,
2 an unknown table or suite or a suite naming a missing column.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DataQualityError, DataQualityWarning, ExitCode, SafetyError

if TYPE_CHECKING:
    from deplat.core.context import Context

STEP = "dq_check"
PIPELINE = "dq"
FAILED_METRIC = "FailedSuites"
WARNED_METRIC = "WarnedSuites"
DEFAULT_NAMESPACE = "Deplat/DataQuality"
FAIL_ON = ("error", "warn")


@dataclass
class DqReport:
    """The outcome of checking one or more suites (the dq_check job's metrics, judged)."""

    env: str
    fail_on: str
    batch_id: str
    run_id: str | None
    suites: list[dict[str, Any]]
    metric: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_suites(self) -> list[str]:
        return [s["suite"] for s in self.suites if _failed(s, "error")]

    @property
    def warned_suites(self) -> list[str]:
        return [s["suite"] for s in self.suites if not _failed(s, "error") and _failed(s, "warn")]

    @property
    def exit_code(self) -> int:
        if self.failed_suites:
            return ExitCode.DQ_FAILED
        if self.fail_on == "warn" and self.warned_suites:
            return ExitCode.DQ_WARN
        return ExitCode.OK

    def failures(self, severity: str) -> list[str]:
        """`suite: expectation` of each failed expectation of a severity."""
        return [f"{s['table']} {r['expectation']}" for s in self.suites for r in s["results"]
                if not r["success"] and r["severity"] == severity]

    def error(self) -> DataQualityError | DataQualityWarning | None:
        """The DeplatError this report exits with, or None when it passes."""
        if self.exit_code == ExitCode.DQ_FAILED:
            failed = self.failures("error")
            return DataQualityError(
                f"data quality failed: {len(failed)} error expectation(s) in {', '.join(self.failed_suites)}",
                "see the table above; `deplat dq list` shows the last result of each suite",
                detail="\n".join(f"  failed: {f}" for f in failed))
        if self.exit_code == ExitCode.DQ_WARN:
            warned = self.failures("warn")
            return DataQualityWarning(f"data quality warnings (--fail-on warn): {len(warned)} expectation(s)",
                                      detail="\n".join(f"  warning: {w}" for w in warned))
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "fail_on": self.fail_on, "batch_id": self.batch_id, "run_id": self.run_id,
                "exit_code": self.exit_code, "failed_suites": self.failed_suites,
                "warned_suites": self.warned_suites, "metric": self.metric, "suites": self.suites}


def _failed(suite: dict[str, Any], severity: str) -> bool:
    return any(not r["success"] and r["severity"] == severity for r in suite["results"])


@dataclass
class DemoResult:
    table: str
    version_before: int
    version_bad: int
    version_after: int
    rows_before: int
    rows_bad: int
    rows_after: int
    appended: int
    content_equal: bool
    report: DqReport | None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "report"}
        out["report"] = self.report.to_dict() if self.report else None
        return out


class DqGate:
    """RunService's gate hook (deplat.runs.Gate) over the DQ service: a gate step's tables are checked
    against their dq/suites by the dq_check job, and a failed error expectation stops the run."""

    def __init__(self, ctx: Context, dq: DqService | None = None):
        self.dq = dq or DqService(ctx)

    def check(self, tables: tuple[str, ...]) -> None:
        self.dq.gate_suites(tables)

    def args(self, tables: tuple[str, ...]) -> list[str]:
        return self.dq.gate_args(tables)

    def verdict(self, metrics: list[dict[str, Any]], batch_id: str, run_id: str | None) -> None:
        self.dq.verdict(metrics, batch_id, run_id)


class DqService:
    """Suites, checks, the gate, the demo failure. The run service and CloudWatch client are injectable."""

    def __init__(self, ctx: Context, runs: Any = None, cloudwatch: Any = None):
        self.ctx = ctx
        self._runs = runs
        self._cloudwatch = cloudwatch

    # --- suites ------------------------------------------------------------------------------

    @property
    def suites_dir(self) -> Path:
        return self.ctx.root / "dq" / "suites"

    def suites(self) -> list[Any]:
        """Every suite in dq/suites/*.yml (ConfigError, exit 2, on a bad one)."""
        from deplat_job.dq.suite import SuiteError, load_suite

        try:
            return [load_suite(p) for p in sorted(self.suites_dir.glob("*.yml"))]
        except SuiteError as exc:
            raise ConfigError(str(exc), "fix the suite (format: README, section Data quality)") from None

    def suite_for(self, table: str, suite_file: str | Path | None = None) -> Any:
        """The suite to check `table` with: `suite_file`, else the one in dq/suites naming the table."""
        from deplat_job.dq.suite import SuiteError, load_suite

        _check_table_name(table)
        if suite_file is not None:
            try:
                suite = load_suite(Path(suite_file))
            except SuiteError as exc:
                raise ConfigError(str(exc), "pass an existing suite file (--suite)") from None
            if suite.table != table:
                raise ConfigError(f"suite {suite_file} is for {suite.table}, not {table}")
            return suite
        matches = [s for s in self.suites() if s.table == table]
        if not matches:
            known = ", ".join(sorted({s.table for s in self.suites()})) or "none"
            raise ConfigError(f"no DQ suite for {table} in {self.suites_dir}",
                              f"tables with suites: {known}; or pass --suite FILE")
        if len(matches) > 1:
            names = ", ".join(s.source for s in matches)
            raise ConfigError(f"more than one suite for {table}: {names}", "pass --suite FILE")
        return matches[0]

    def validate(self, suites: list[Any]) -> None:
        """Every table and column the suites name exists (Delta schemas); ConfigError naming the first gap."""
        tables = sorted({s.table for s in suites} | {t for s in suites for t in s.ref_tables})
        types = {t: self.column_types(t) for t in tables}
        schemas = {t: list(cols) for t, cols in types.items()}
        missing = [m for s in suites for m in s.missing_columns(schemas)]
        if missing:
            raise ConfigError(f"the suite names column(s) the table does not have: {', '.join(missing)}",
                              "fix the suite or the table")
        wrong = [p for s in suites for p in s.type_problems(types)]
        if wrong:
            raise ConfigError(f"check(s) that cannot run on their column's type: {'; '.join(wrong)}",
                              "fix the suite (format: README, section Data quality)")

    def schema(self, table: str) -> list[str]:
        """The column names of a lake table, from its Delta log (no data read)."""
        return [f.name for f in self._delta(table).schema().fields]

    def column_types(self, table: str) -> dict[str, str]:
        """Column name -> Delta type name (`long`, `decimal(10,2)`, `date`, ...; nested types as text)."""
        return {f.name: str(getattr(f.type, "type", f.type)) for f in self._delta(table).schema().fields}

    def _delta(self, table: str, version: int | None = None) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        _check_table_name(table)
        try:
            return DeltaTable(self.table_uri(table), version=version, storage_options=self._storage_options())
        except TableNotFoundError:
            raise ConfigError(f"unknown table {table}: no Delta table at {self.table_uri(table)}",
                              "check the name (<layer>.<table>) or run the pipeline that writes it") from None

    def table_uri(self, table: str) -> str:
        layer, name = table.split(".", 1)
        return f"{self.ctx.lake_uri.rstrip('/')}/{layer}/{name}"

    def _storage_options(self) -> dict[str, str] | None:
        if not self.ctx.lake_uri.startswith("s3://"):
            return None
        creds = self.ctx.aws.session.get_credentials().get_frozen_credentials()
        opts = {"AWS_REGION": self.ctx.env.region, "AWS_ACCESS_KEY_ID": creds.access_key,
                "AWS_SECRET_ACCESS_KEY": creds.secret_key}
        if creds.token:
            opts["AWS_SESSION_TOKEN"] = creds.token
        if self.ctx.env.endpoint_url:
            opts.update(AWS_ENDPOINT_URL=self.ctx.env.endpoint_url, AWS_ALLOW_HTTP="true")
        return opts

    # --- check and gate ----------------------------------------------------------------------

    def job_args(self, suites: list[Any]) -> list[str]:
        """The dq_check job's arguments for these (validated) suites."""
        from deplat_job.dq.suite import encode_suites

        self.validate(suites)
        return ["--suites", encode_suites(suites)]

    def gate_suites(self, tables: tuple[str, ...] | list[str]) -> list[Any]:
        """The suites of the gate's tables (each must have exactly one); ConfigError otherwise."""
        return [self.suite_for(t) for t in tables]

    def gate_args(self, tables: tuple[str, ...] | list[str]) -> list[str]:
        """The gate's job arguments: the suites of `tables`, validated against the tables' schemas.
        LostDataFilesError (exit 3) naming the files when a table's data files are gone from storage."""
        from deplat.recovery import require_data_files

        require_data_files(self.ctx, list(tables))
        return self.job_args(self.gate_suites(tables))

    def check(self, table: str, suite_file: str | None = None, fail_on: str = "error",
              timeout: float | None = None) -> DqReport:
        """Run the table's suite as a dq_check job on the environment's engine; never raises on a failed
        check (the report's `exit_code`/`error()` carry the verdict), ConfigError for bad input."""
        if fail_on not in FAIL_ON:
            raise ConfigError(f"--fail-on must be error or warn, got {fail_on!r}")
        suite = self.suite_for(table, suite_file)
        from deplat.recovery import require_data_files

        require_data_files(self.ctx, [suite.table])  # a lost file: named here, not a Py4JJavaError in the job
        args = self.job_args([suite])
        result = self.runs.run(PIPELINE, step_args={STEP: args}, gate_verdict=False, timeout=timeout)
        step = result.steps[-1]
        return self.report(step.metrics, fail_on, result.batch_id, step.run_id)

    def report(self, metrics: list[dict[str, Any]], fail_on: str, batch_id: str, run_id: str | None) -> DqReport:
        """Judge the dq_check job's metrics and publish the CloudWatch metric."""
        rec = next((m for m in reversed(metrics) if m.get("step") == STEP and "dq" in m), None)
        if rec is None:
            from deplat_job.errors import JobFailedError

            raise JobFailedError(f"the dq_check run {run_id} printed no DQ results",
                                 f"see `deplat logs {run_id}`")
        report = DqReport(self.ctx.env.name, fail_on, batch_id, run_id, rec["dq"])
        report.metric = self.publish(report)
        return report

    def verdict(self, metrics: list[dict[str, Any]], batch_id: str, run_id: str | None) -> DqReport:
        """The gate: report, then raise DataQualityError (exit 5) when an error expectation failed."""
        report = self.report(metrics, "error", batch_id, run_id)
        err = report.error()
        if err is not None:
            err.hint = "gold was not written; fix the silver data, or rerun with --skip-dq (recorded)"
            raise err
        for w in report.failures("warn"):
            self.ctx.reporter.warn(f"DQ warning: {w}")
        return report

    def publish(self, report: DqReport) -> dict[str, Any]:
        """PutMetricData FailedSuites / WarnedSuites (Environment dimension) for the dq-failures alarm."""
        from botocore.exceptions import BotoCoreError, ClientError

        namespace = self.ctx.outputs(required=False).get("metrics_namespace") or DEFAULT_NAMESPACE
        dims = [{"Name": "Environment", "Value": self.ctx.env.name}]
        data = [{"MetricName": FAILED_METRIC, "Dimensions": dims, "Value": float(len(report.failed_suites)),
                 "Unit": "Count"},
                {"MetricName": WARNED_METRIC, "Dimensions": dims, "Value": float(len(report.warned_suites)),
                 "Unit": "Count"}]
        try:
            cw = self._cloudwatch or self.ctx.aws.client("cloudwatch")
            cw.put_metric_data(Namespace=namespace, MetricData=data)
        except (BotoCoreError, ClientError) as exc:
            self.ctx.reporter.warn(f"could not publish the DQ metric to CloudWatch ({namespace}): {exc}")
            return {"namespace": namespace, "published": False, "error": str(exc)}
        return {"namespace": namespace, "published": True, FAILED_METRIC: len(report.failed_suites),
                WARNED_METRIC: len(report.warned_suites)}

    @property
    def runs(self) -> Any:
        if self._runs is None:
            from deplat.runs import RunService

            self._runs = RunService(self.ctx)
        return self._runs

    # --- list ----------------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        """Each suite with its table, expectation count and last result (from gold.quality_results)."""
        suites = self.suites()
        last = self._last_results()
        out = []
        for s in suites:
            rows = last.get(s.name, [])
            out.append({"suite": s.name, "table": s.table, "file": s.source, "expectations": len(s.checks),
                        "last_checked_at": rows[0]["checked_at"] if rows else None,
                        "last_run_id": rows[0]["run_id"] if rows else None,
                        "last_delta_version": rows[0]["delta_version"] if rows else None,
                        "last_failed": [r["expectation"] for r in rows if not r["success"]],
                        "last_result": _summary(rows)})
        return out

    def _last_results(self) -> dict[str, builtins.list[dict[str, Any]]]:  # `list` here is the method above
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            dt = DeltaTable(self.table_uri("gold.quality_results"), storage_options=self._storage_options())
        except TableNotFoundError:
            return {}
        rows = dt.to_pyarrow_table(columns=["run_id", "suite", "delta_version", "expectation", "severity",
                                            "success", "checked_at"]).to_pylist()
        latest: dict[str, tuple[Any, str]] = {}
        for r in rows:
            key = (r["checked_at"], r["run_id"])
            if r["suite"] not in latest or key > latest[r["suite"]]:
                latest[r["suite"]] = key
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if (r["checked_at"], r["run_id"]) == latest[r["suite"]]:
                out.setdefault(r["suite"], []).append({**r, "checked_at": str(r["checked_at"])})
        return out

    # --- demo failure --------------------------------------------------------------------------

    def demo_failure(self, table: str, yes: bool = False, dry_run: bool = False) -> DemoResult:
        """Append bad rows as a Delta commit, check the table (it fails), then RESTORE the version before.

        The restore runs in a `finally`, so an interrupted or failed check never leaves the bad rows.
        The result carries the check's report and the restore (the caller shows them in that order);
        only when the check did not finish does the restore announce itself here, since nothing else
        will. Refused (exit 7) on protected environments and without `yes`.
        """
        from deltalake import write_deltalake

        if self.ctx.env.protected:
            raise SafetyError(f"dq demo-failure writes bad rows into {table}: refused on protected "
                              f"environment '{self.ctx.env.name}'")
        suite = self.suite_for(table)
        self.validate([suite])
        dt = self._delta(table)
        before = dt.version()
        rows_before = _count(dt)
        bad = _bad_rows(dt, suite)
        if dry_run:
            return DemoResult(table, before, before, before, rows_before, rows_before, rows_before,
                              bad.num_rows, True, None)
        if not yes:
            raise SafetyError(f"dq demo-failure appends {bad.num_rows} bad rows to {table} (then restores "
                              f"version {before})", "pass --yes to go ahead, or --dry-run to preview")
        report = None
        version_bad = rows_bad = None
        try:
            write_deltalake(self.table_uri(table), bad, mode="append",
                            partition_by=dt.metadata().partition_columns or None,
                            storage_options=self._storage_options())
            dt.update_incremental()
            version_bad, rows_bad = dt.version(), _count(dt)
            self.ctx.reporter.warn(f"{table}: appended {bad.num_rows} bad rows as version {version_bad} "
                                   f"({rows_before} -> {rows_bad} rows); checking it now")
            report = self.check(table)
        finally:
            restored = self._delta(table)
            if restored.version() != before:
                restored.restore(before)
                if report is None:
                    self.ctx.reporter.warn(f"{table}: the check did not finish; RESTORE to version {before} done")
        after = self._delta(table)
        content_equal = _same_content(self._delta(table, before), after)
        return DemoResult(table, before, version_bad, after.version(), rows_before, rows_bad, _count(after),
                          bad.num_rows, content_equal, report)


def _check_table_name(table: str) -> None:
    import re

    if not re.match(r"^(bronze|silver|gold)\.[A-Za-z_][A-Za-z0-9_]*$", table):
        raise ConfigError(f"unknown table {table!r}", "name a lake table as <bronze|silver|gold>.<table>")


def _summary(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "never checked"
    errors = sum(1 for r in rows if not r["success"] and r["severity"] == "error")
    warns = sum(1 for r in rows if not r["success"] and r["severity"] == "warn")
    if errors:
        return f"FAILED ({errors} error, {warns} warn)"
    return f"passed with {warns} warning(s)" if warns else "passed"


def _count(dt: Any) -> int:
    """Rows of the table's current version, counted (Parquet footers, no data pages)."""
    return int(dt.to_pyarrow_dataset().count_rows())


def _same_content(a: Any, b: Any) -> bool:
    """Same rows (as a multiset) in two versions of a table."""
    ta, tb = a.to_pyarrow_table(), b.to_pyarrow_table()
    if ta.num_rows != tb.num_rows or ta.schema.names != tb.schema.names:
        return False
    key = [(n, "ascending") for n in ta.schema.names]
    return ta.sort_by(key).equals(tb.select(ta.schema.names).sort_by(key))


def _bad_rows(dt: Any, suite: Any):
    """Rows that break the suite: one exact copy of an existing row (unique keys) and one mutated row
    (out of range, outside the set, not matching the pattern, not referenced)."""
    import pyarrow as pa

    sample = dt.to_pyarrow_dataset().head(1)
    if sample.num_rows == 0:
        raise ConfigError(f"{suite.table} is empty: nothing to copy into bad rows")
    row = sample.to_pylist()[0]
    broken = dict(row)
    for c in suite.checks:
        col = c.column
        if col is None or col not in broken:
            continue
        value = broken[col]
        if c.kind == "between":
            lo, hi = c.params.get("min"), c.params.get("max")
            target = (lo - 1) if lo is not None else (hi + 1)
            exact = value is not None and not isinstance(value, float)  # Decimal, int: keep the column's type
            broken[col] = type(value)(str(target)) if exact else float(target)
        elif c.kind in ("in_set", "referential", "regex") and isinstance(value, str):
            broken[col] = "!!"
    return pa.Table.from_pylist([row, broken], schema=sample.schema)
