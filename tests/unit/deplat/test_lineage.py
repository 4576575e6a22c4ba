"""OpenLineage from `deplat run` (scripted engine): START/COMPLETE/FAIL with datasets, the file
transport under the lake, transport errors only warn, and `lineage show` trees."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from deplat.artifacts import Manifest
from deplat.core.config import LineageSettings
from deplat.core.console import NullReporter
from deplat.lineage import LINEAGE_DIR, HttpTransport, LakeNames, run_uuid, tree
from deplat.registry import PIPELINES, STEPS, datasets, resolve
from deplat.runs import RunService
from deplat_job.errors import ConfigError, JobFailedError
from tests.unit.deplat.test_runs import ScriptedEngine


def _manifest(steps):
    files = {f"jobs/{s}.py": {"sha256": f"{i:064d}", "size": 1, "key": f"a/{s}.py"} for i, s in enumerate(steps)}
    files["wheel/deplat-0.1.0-py3-none-any.whl"] = {"sha256": "f" * 64, "size": 1, "key": "a/w.whl"}
    return Manifest(files=files)


def _ctx(tmp_path, lineage=True):
    lake = tmp_path / "lake"
    settings = SimpleNamespace(default_env="local", lineage=LineageSettings() if lineage else None,
                               project="deplat")
    return SimpleNamespace(state_dir=tmp_path, env=SimpleNamespace(name="local", is_local=True),
                           lake_uri=str(lake), settings=settings, reporter=NullReporter(),
                           root=tmp_path, outputs=lambda required=True: {"artifacts_bucket": "art"})


def _run(tmp_path, monkeypatch, pipeline, engine, ctx=None):
    ctx = ctx or _ctx(tmp_path)
    steps = [s.name for _, s in resolve(pipeline)]
    for s in steps:  # the run service checks that each step's job script exists
        (tmp_path / "jobs").mkdir(exist_ok=True)
        (tmp_path / "jobs" / f"{s}.py").write_text("# job\n")
    svc = RunService(ctx, engine, clock=lambda: 0.0, sleep=lambda s: None)
    monkeypatch.setattr(svc, "_manifest", lambda: (_manifest(steps), "art"))
    return ctx, svc.run(pipeline)


def _events(ctx):
    files = sorted((Path(ctx.lake_uri) / LINEAGE_DIR).glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_every_step_emits_start_and_complete_with_its_datasets(tmp_path, monkeypatch):
    ctx, result = _run(tmp_path, monkeypatch, "fx", ScriptedEngine())
    events = _events(ctx)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", "fx.fx_to_bronze"), ("COMPLETE", "fx.fx_to_bronze"),
        ("START", "fx.fx_bronze_to_silver"), ("COMPLETE", "fx.fx_bronze_to_silver")]
    assert (tmp_path / "lake" / LINEAGE_DIR / f"{result.batch_id}.jsonl").is_file()
    silver = events[3]
    assert silver["job"]["namespace"] == "deplat"
    assert silver["inputs"] == [{"namespace": "file", "name": f"{tmp_path}/lake/bronze/fx_rates"}]
    assert silver["outputs"] == [{"namespace": "file", "name": f"{tmp_path}/lake/silver/fx_rates"}]
    assert events[0]["inputs"] == [{"namespace": "https://www.ecb.europa.eu", "name": "eurofxref-hist"}]
    assert silver["run"]["runId"] == events[2]["run"]["runId"] == run_uuid("local", "r2")
    assert events[0]["run"]["facets"]["parent"]["job"] == {"namespace": "deplat", "name": "fx"}
    assert events[0]["run"]["facets"]["parent"]["run"] == silver["run"]["facets"]["parent"]["run"]
    assert silver["schemaURL"].startswith("https://openlineage.io/spec/") and silver["eventTime"].endswith("Z")


def test_a_failed_step_records_fail_with_the_error(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_bronze_to_silver": ["RUNNING", "FAILED"]}, stderr="boom")
    with pytest.raises(JobFailedError):
        _run(tmp_path, monkeypatch, "fx", engine)
    events = _events(_ctx(tmp_path))
    assert [(e["eventType"], e["job"]["name"]) for e in events][-2:] == [
        ("START", "fx.fx_bronze_to_silver"), ("FAIL", "fx.fx_bronze_to_silver")]
    assert events[-1]["run"]["facets"]["errorMessage"]["message"] == "exit 1"
    assert events[-1]["outputs"][0]["name"].endswith("/silver/fx_rates")


def test_a_timed_out_step_records_fail(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["RUNNING"]})
    ctx = _ctx(tmp_path)
    svc = RunService(ctx, engine, clock=iter(range(0, 10_000, 50)).__next__, sleep=lambda s: None)
    (tmp_path / "jobs").mkdir()
    for s in ("fx_to_bronze", "fx_bronze_to_silver"):
        (tmp_path / "jobs" / f"{s}.py").write_text("#\n")
    monkeypatch.setattr(svc, "_manifest", lambda: (_manifest(["fx_to_bronze", "fx_bronze_to_silver"]), "art"))
    with pytest.raises(JobFailedError):
        svc.run("fx", timeout=120)
    assert [e["eventType"] for e in _events(ctx)] == ["START", "FAIL"]


def test_transport_errors_only_warn(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    ctx, result = _run(tmp_path, monkeypatch, "fx", ScriptedEngine())
    assert all(s.state == "SUCCESS" for s in result.steps)
    warnings = [m for m in ctx.reporter.messages if "lineage" in m]
    assert len(warnings) == 1 and "HttpTransport failed" in warnings[0]
    assert len(_events(ctx)) == 4  # the file transport still wrote every event


def test_disabled_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    ctx, _ = _run(tmp_path, monkeypatch, "fx", ScriptedEngine())
    assert not (tmp_path / "lake" / LINEAGE_DIR).exists()


def test_http_transport_posts_the_event(monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((self.path, self.headers["Authorization"],
                        json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    HttpTransport(f"http://127.0.0.1:{server.server_port}", api_key="k").emit({"eventType": "START"}, "b")
    server.server_close()
    assert got == [("/api/v1/lineage", "Bearer k", {"eventType": "START"})]


def test_lineage_show_upstream_names_silver_bronze_and_sources(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path)
    for pipeline in ("fx", "snowflake", "gold"):
        steps = [s.name for _, s in resolve(pipeline)]
        for s in steps:
            (tmp_path / "jobs").mkdir(exist_ok=True)
            (tmp_path / "jobs" / f"{s}.py").write_text("#\n")
        svc = RunService(ctx, ScriptedEngine(), clock=lambda: 0.0, sleep=lambda s: None)
        monkeypatch.setattr(svc, "_manifest", lambda steps=steps: (_manifest(steps), "art"))
        svc.run(pipeline, skip_gates=True)  # the DQ gate is not what this test is about
    graph = tree(ctx, "gold.daily_revenue", upstream=True)

    def names(node):
        yield node["dataset"]
        for job in node["jobs"]:
            yield job["job"]
            for d in job["datasets"]:
                yield from names(d)

    seen = set(names(graph))
    assert {"gold.gold_aggregates", "silver.orders", "silver.fx_rates", "bronze.fx_rates",
            "ecb:eurofxref-hist", "silver.orders_tpch", "bronze.snowflake_orders", "snowflake:TPCH.ORDERS",
            "bronze.orders_events"} <= seen
    assert graph["jobs"][0]["job"] == "gold.gold_aggregates" and graph["jobs"][0]["state"] == "COMPLETE"

    def jobs(node):
        for job in node["jobs"]:
            yield job
            for d in job["datasets"]:
                yield from jobs(d)

    snow = [j for j in jobs(graph) if j["job"] == "snowflake.snowflake_to_bronze"]
    assert [bool(j["datasets"]) for j in snow] == [True, False, False, False]  # drawn once
    shallow = tree(ctx, "gold.daily_revenue", depth=1)
    assert {d["dataset"] for d in shallow["jobs"][0]["datasets"]} == {"silver.orders", "silver.fx_rates"}
    assert all(d["jobs"] == [] and d["truncated"] for d in shallow["jobs"][0]["datasets"])
    down = tree(ctx, "bronze.fx_rates", upstream=False)
    assert "gold.daily_revenue" in set(names(down))
    with pytest.raises(ConfigError):
        tree(ctx, "gold.nope")


def test_declared_datasets_match_the_specs():
    from deplat_job.pipelines.source_specs import DMS_TABLES, SALESFORCE_OBJECTS

    declared = {s.name: (s.inputs, s.outputs) for s in STEPS.values() if s.inputs or s.outputs}
    assert set(declared) <= {s.name for p in PIPELINES.values() for s in p.steps}
    assert {f"bronze.{t.bronze_table}" for t in DMS_TABLES.values()} == set(STEPS["dms_rds_to_bronze"].outputs)
    assert {f"silver.{t.silver_table}" for t in DMS_TABLES.values()} == set(STEPS["dms_bronze_to_silver"].outputs)
    assert {f"bronze.{o.bronze_table}" for o in SALESFORCE_OBJECTS.values()} == set(
        STEPS["salesforce_to_bronze"].outputs)
    assert {f"silver.{o.silver_table}" for o in SALESFORCE_OBJECTS.values()} == set(
        STEPS["salesforce_bronze_to_silver"].outputs)
    produced = {d for _, outs in declared.values() for d in outs}
    consumed = {d for ins, _ in declared.values() for d in ins if ":" not in d}
    assert consumed <= produced  # every lake input is some step's output


def test_s3_dataset_names_round_trip():
    names = LakeNames("s3://lake-bucket")
    ds = names.dataset("silver.orders")
    assert ds == {"namespace": "s3://lake-bucket", "name": "silver/orders"}
    assert names.display(ds) == "silver.orders"
    assert names.display(names.dataset("kafka:orders_events")) == "kafka:orders_events"


def test_a_no_wait_run_gets_its_end_event_when_status_sees_it_end(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["RUNNING", "FAILED"]})
    ctx = _ctx(tmp_path)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "fx_to_bronze.py").write_text("#\n")
    svc = RunService(ctx, engine, clock=lambda: 0.0, sleep=lambda s: None)
    monkeypatch.setattr(svc, "_manifest", lambda: (_manifest(["fx_to_bronze"]), "art"))
    svc.run("fx", step="fx_to_bronze", wait=False)
    assert [e["eventType"] for e in _events(ctx)] == ["START"]
    svc.status()  # RUNNING: nothing to add
    svc.status()  # FAILED: the end event
    svc.status()  # already terminal: no second one
    events = _events(ctx)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]


def test_a_dq_check_reads_exactly_its_suites_tables():
    from deplat.lineage import step_datasets

    suites = json.dumps([
        {"name": "silver_orders", "table": "silver.orders", "checks": [
            {"kind": "not_null", "columns": ["order_id"], "params": {}, "severity": "error"},
            {"kind": "referential", "columns": ["currency"], "params": {"ref_table": "silver.fx_rates"},
             "severity": "warn"}]}])
    assert step_datasets("dq_check", ("--lake", "/l", "--suites", suites)) == (
        ("silver.orders", "silver.fx_rates"), ("gold.quality_results",))
    assert step_datasets("dq_check") == datasets("dq_check")  # no args: the gate's declaration
    assert step_datasets("dq_check", ("--suites", "not json")) == datasets("dq_check")


def test_run_passes_the_step_args_to_lineage(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "dq_check.py").write_text("#\n")
    svc = RunService(ctx, ScriptedEngine(), clock=lambda: 0.0, sleep=lambda s: None)
    monkeypatch.setattr(svc, "_manifest", lambda: (_manifest(["dq_check"]), "art"))
    suites = json.dumps([{"name": "s", "table": "silver.fx_rates", "checks": []}])
    svc.run("dq", step_args={"dq_check": ["--suites", suites]}, gate_verdict=False)
    events = _events(ctx)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert [d["name"].rsplit("/", 2)[-2:] for d in events[1]["inputs"]] == [["silver", "fx_rates"]]


def test_the_stream_step_declares_the_bronze_table_its_job_writes():
    from deplat_job.pipelines import streaming
    table = f"bronze.{streaming.BRONZE_TABLE}"
    assert STEPS["kafka_orders_stream"].outputs == (table,)
    assert table in STEPS["orders_silver"].inputs
