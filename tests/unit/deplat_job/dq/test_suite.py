"""DQ suites (format, validation, the shipped suites), the report's exit codes, and the gate in the run
service over a scripted engine (no JVM)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from deplat import registry
from deplat.core.console import NullReporter
from deplat.dq.service import DqReport, DqService
from deplat_job.dq.suite import SuiteError, decode_suites, encode_suites, load_suite, parse_suite
from deplat_job.errors import ConfigError, DataQualityError, ExitCode

ROOT = Path(__file__).resolve().parents[4]


def test_every_shipped_suite_parses_and_gold_inputs_each_have_one():
    suites = [load_suite(p) for p in sorted((ROOT / "dq" / "suites").glob("*.yml"))]
    tables = [s.table for s in suites]
    assert {"silver_fx_rates", "silver_orders"} <= {s.name for s in suites}
    for table in registry.GOLD_INPUTS:
        assert tables.count(table) == 1, table
    kinds = {c.kind for s in suites for c in s.checks}
    assert kinds == {"not_null", "unique", "between", "in_set", "regex", "row_count", "freshness", "referential"}
    assert decode_suites(encode_suites(suites)) == suites  # what the job receives is what was loaded


@pytest.mark.parametrize(("doc", "message"), [
    ({"table": "fx_rates", "expectations": []}, "<bronze|silver|gold>.<table>"),
    ({"table": "silver.t", "expectations": [{"check": "nope", "column": "a"}]}, "unknown check 'nope'"),
    ({"table": "silver.t", "expectations": [{"check": "between", "column": "a"}]}, "give `min`, `max`"),
    ({"table": "silver.t", "expectations": [{"check": "not_null"}]}, "missing ['column']"),
    ({"table": "silver.t", "expectations": [{"check": "not_null", "column": "a", "severity": "fatal"}]},
     "severity must be error or warn"),
    ({"table": "silver.t", "expectations": [{"check": "regex", "column": "a", "pattern": "("}]}, "is not a Java regex"),
    ({"table": "silver.t", "expectations": [{"check": "not_null", "column": "a"}] * 2}, "duplicate"),
    ({"table": "silver.t", "expectations": [{"check": "in_set", "column": "a", "values": "x", "extra": 1}]},
     "unknown ['extra']"),
])
def test_bad_suites_are_refused_with_the_reason(doc, message):
    with pytest.raises(SuiteError) as exc:
        parse_suite(doc, "t")
    assert message in str(exc.value)


def test_labels_severity_and_missing_columns():
    suite = parse_suite({"table": "silver.orders", "expectations": [
        {"check": "unique", "columns": ["a", "b"], "severity": "warn"},
        {"check": "referential", "column": "ccy", "ref_table": "silver.fx", "ref_columns": ["ccy", "base"]},
        {"check": "row_count", "min": 1},
    ]}, "orders")
    assert [c.label for c in suite.checks] == ["unique(a,b)", "referential(ccy -> silver.fx.ccy|base)", "row_count"]
    assert suite.checks[0].severity == "warn"
    schemas = {"silver.orders": ["a", "b", "ccy"], "silver.fx": ["ccy"]}
    assert suite.missing_columns(schemas) == ["silver.fx.base"]


def _ctx(tmp_path, suites: dict[str, dict]):
    root = tmp_path / "proj"
    (root / "dq" / "suites").mkdir(parents=True)
    for name, doc in suites.items():
        (root / "dq" / "suites" / f"{name}.yml").write_text(yaml.safe_dump(doc))
    return SimpleNamespace(root=root, lake_uri=str(tmp_path / "lake"), env=SimpleNamespace(name="local",
                           protected=False, region="us-east-1", endpoint_url=None),
                           reporter=NullReporter(), outputs=lambda required=True: {})


def test_unknown_table_or_suite_and_missing_columns_exit_2(tmp_path):
    pytest.importorskip("deltalake")
    import pyarrow as pa
    from deltalake import write_deltalake

    ctx = _ctx(tmp_path, {"silver_t": {"table": "silver.t", "expectations": [
        {"check": "not_null", "column": "a"}, {"check": "not_null", "column": "zzz"}]}})
    svc = DqService(ctx)
    with pytest.raises(ConfigError, match="no DQ suite for silver.other"):
        svc.suite_for("silver.other")
    with pytest.raises(ConfigError, match="unknown table 'fx_rates'"):
        svc.suite_for("fx_rates")
    with pytest.raises(ConfigError, match="does not exist"):
        svc.suite_for("silver.t", tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="unknown table silver.t"):  # the suite exists, the table does not
        svc.gate_args(["silver.t"])
    write_deltalake(f"{ctx.lake_uri}/silver/t", pa.table({"a": [1, 2]}))
    with pytest.raises(ConfigError, match="silver.t.zzz") as exc:
        svc.gate_args(["silver.t"])
    assert exc.value.exit_code == ExitCode.USAGE


def _suite_doc(results):
    return {"suite": "s", "table": "silver.t", "delta_version": 3, "rows": 10, "success": True,
            "results": [{"expectation": e, "severity": sev, "success": ok} for e, sev, ok in results]}


@pytest.mark.parametrize(("results", "fail_on", "code"), [
    ([("a", "error", True), ("b", "warn", True)], "error", 0),
    ([("a", "error", True), ("b", "warn", False)], "error", 0),
    ([("a", "error", True), ("b", "warn", False)], "warn", 6),
    ([("a", "error", False), ("b", "warn", False)], "warn", 5),
    ([("a", "error", False)], "error", 5),
])
def test_report_exit_codes(results, fail_on, code):
    report = DqReport("local", fail_on, "b1", "r1", [_suite_doc(results)])
    assert report.exit_code == code
    err = report.error()
    assert (err.exit_code if err else 0) == code


# --- the gate in the run service (scripted engine, no JVM) -----------------------------------------

def _metrics_line(success: bool) -> str:
    doc = _suite_doc([("not_null(id)", "error", success)])
    return "DEPLAT_METRICS " + json.dumps({"step": "dq_check", "read": 10, "written": 1, "rejected": 0,
                                           "dq": [doc]})


@pytest.fixture
def gated(tmp_path, monkeypatch):
    from deplat.artifacts import Manifest
    from deplat.registry import Pipeline, Step
    from tests.unit.deplat.test_runs import MANIFEST, ScriptedEngine, service

    files = dict(MANIFEST.files)
    for step in ("dq_check", "gold_aggregates"):
        files[f"jobs/{step}.py"] = {"sha256": "9" * 64, "size": 1, "key": f"artifacts/9/{step}.py"}
    monkeypatch.setitem(registry.PIPELINES, "gated", Pipeline("gated", (
        Step("dq_check", gate=("silver.t",)), Step("gold_aggregates"))))
    monkeypatch.setattr(DqService, "gate_suites", lambda self, tables: [])
    monkeypatch.setattr(DqService, "gate_args", lambda self, tables: ["--suites", "[]"])
    published = []
    monkeypatch.setattr(DqService, "publish", lambda self, report: published.append(report) or {})

    def make(success: bool):
        engine = ScriptedEngine(stdout={"dq_check": _metrics_line(success) + "\n"})
        return service(tmp_path, monkeypatch, engine, manifest=Manifest(files=files), dq_gate=True), engine, published
    return make


def test_failed_gate_stops_the_pipeline_with_exit_5(gated):
    svc, engine, published = gated(False)
    with pytest.raises(DataQualityError) as exc:
        svc.run("gated")
    assert exc.value.exit_code == 5 and "not_null(id)" in exc.value.detail
    assert [spec.step for spec, _ in engine.submitted] == ["dq_check"]  # gold never submitted
    assert published and published[0].failed_suites == ["s"]


def test_passing_gate_lets_gold_run_and_a_step_behind_a_gate_brings_it(gated):
    svc, engine, _ = gated(True)
    svc.run("gated", step="gold_aggregates")
    assert [spec.step for spec, _ in engine.submitted] == ["dq_check", "gold_aggregates"]
    assert engine.submitted[0][0].args[-2:] == ("--suites", "[]")


def test_skip_dq_is_loud_and_recorded(gated):
    svc, engine, _ = gated(False)
    svc.run("gated", skip_gates=True)
    assert [spec.step for spec, _ in engine.submitted] == ["gold_aggregates"]
    assert any("SKIPPED" in m for m in svc.ctx.reporter.messages)
    records = svc.history.records()
    skipped = next(r for r in records if r["step"] == "dq_check")
    assert skipped["state"] == "SKIPPED" and skipped["gate_skipped"] is True
    assert next(r for r in records if r["step"] == "gold_aggregates")["gate_skipped"] is True


def test_a_gate_without_a_suite_exits_2_before_anything_is_submitted(gated, monkeypatch):
    svc, engine, _ = gated(True)
    monkeypatch.undo()
    monkeypatch.setitem(registry.PIPELINES, "gated", registry.Pipeline("gated", (
        registry.Step("gold_aggregates"), registry.Step("dq_check", gate=("silver.nope",)))))
    monkeypatch.setattr(svc, "_manifest", lambda: pytest.fail("nothing may be submitted"))
    with pytest.raises(ConfigError, match="no DQ suite for silver.nope"):
        svc.run("gated")
    assert engine.submitted == []


def test_dq_check_pipeline_shares_no_idempotency_key_across_tables(gated):
    svc, engine, _ = gated(True)
    svc.run("dq", step_args={"dq_check": ["--suites", "A"]}, gate_verdict=False)
    svc.run("dq", step_args={"dq_check": ["--suites", "B"]}, gate_verdict=False)
    assert engine.submitted[0][1] != engine.submitted[1][1]


# --- demo-failure's Delta side (delta-rs, no JVM) ----------------------------------------------------

@pytest.fixture
def demo_table(tmp_path):
    pytest.importorskip("deltalake")
    from decimal import Decimal

    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    ctx = _ctx(tmp_path, {"silver_fx": {"table": "silver.fx", "expectations": [
        {"check": "unique", "columns": ["ccy", "day"]},
        {"check": "between", "column": "rate", "min": 0, "strict_min": True},
        {"check": "regex", "column": "ccy", "pattern": "^[A-Z]{3}$"}]}})
    path = f"{ctx.lake_uri}/silver/fx"
    write_deltalake(path, pa.table({"ccy": ["USD", "JPY"], "day": ["2026-01-02", "2026-01-02"],
                                    "rate": pa.array([Decimal("1.1"), Decimal("160.5")], pa.decimal128(24, 10))}))
    write_deltalake(path, pa.table({"ccy": ["GBP"], "day": ["2026-01-02"],
                                    "rate": pa.array([Decimal("0.85")], pa.decimal128(24, 10))}), mode="append")
    return ctx, path, DeltaTable(path).to_pyarrow_table()


def test_demo_failure_restores_even_when_the_check_is_interrupted(demo_table, monkeypatch):
    from deltalake import DeltaTable

    ctx, path, before = demo_table
    seen = {}

    def interrupted_check(self, table, *a, **k):
        dt = DeltaTable(path)
        seen["version"], seen["rows"] = dt.version(), dt.to_pyarrow_table().to_pylist()
        raise KeyboardInterrupt

    monkeypatch.setattr(DqService, "check", interrupted_check)
    with pytest.raises(KeyboardInterrupt):
        DqService(ctx).demo_failure("silver.fx", yes=True)
    assert seen["version"] == 2 and len(seen["rows"]) == 5  # the bad rows were a real commit
    broken = [r for r in seen["rows"] if r["ccy"] == "!!"]
    assert len(broken) == 1 and broken[0]["rate"] < 0  # out of range, not matching the pattern
    after = DeltaTable(path)
    assert after.version() == 3 and after.history(1)[0]["operation"] == "RESTORE"
    key = [("ccy", "ascending")]
    assert after.to_pyarrow_table().sort_by(key).equals(before.sort_by(key))


def test_demo_failure_needs_yes_and_dry_run_writes_nothing(demo_table):
    from deltalake import DeltaTable

    ctx, path, _ = demo_table
    from deplat_job.errors import SafetyError

    with pytest.raises(SafetyError, match="--yes"):
        DqService(ctx).demo_failure("silver.fx")
    dry = DqService(ctx).demo_failure("silver.fx", dry_run=True)
    assert dry.appended == 2 and dry.report is None and DeltaTable(path).version() == 1
    ctx.env.protected = True
    with pytest.raises(SafetyError, match="protected"):
        DqService(ctx).demo_failure("silver.fx", yes=True)
