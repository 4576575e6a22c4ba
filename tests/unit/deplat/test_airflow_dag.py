"""The rendered Airflow DAG and the pipeline registry agree: one task per step of `all` in registry order,
each StartJobRun request equal to what `deplat run all` submits for the same manifest (the engine's own
request builder over the captured JobSpec), the gate's verdict task between the gate and gold, a
clientToken stable across retries, daily, no catch-up. The file itself is checked by a real Airflow
where one is installed (not in this venv)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

from deplat.airflow_dag import BATCH_TEMPLATE, client_token, dag_spec, render, run_token
from deplat.artifacts import Manifest
from deplat.core.console import NullReporter
from deplat.engines.emr_serverless import EmrServerlessEngine
from deplat.registry import resolve
from deplat.runs import RunService
from deplat.services import run_service
from tests.unit.deplat.test_runs import ScriptedEngine

ROOT = Path(__file__).resolve().parents[3]
OUTPUTS = {"artifacts_bucket": "art", "emr_application_id": "00app", "log_group_name": "/deplat/emr",
           "emr_job_role_arn": "arn:aws:iam::123456789012:role/deplat-dev-emr-job",
           "emr_source_role_arns": {s: f"arn:aws:iam::123456789012:role/deplat-dev-{s}"
                                    for s in ("snowflake", "salesforce", "rds", "kafka")}}


def _manifest() -> Manifest:
    files = {f"jobs/{st.name}.py": {"sha256": f"{i:064x}", "size": 1, "key": f"artifacts/{i}/{st.name}.py"}
             for i, (_, st) in enumerate(resolve("all"), 1)}
    files["pyfiles/deplat_job-0.1.0.zip"] = {"sha256": "f" * 64, "size": 1, "key": "artifacts/f/deplat_job.zip"}
    files["deps/deplat-deps.tar.gz"] = {"sha256": "e" * 64, "size": 1, "key": "artifacts/e/deps.tar.gz"}
    return Manifest(files=files)


def _ctx(tmp_path):
    from deplat.core.config import load_settings

    cloudwatch = SimpleNamespace(put_metric_data=lambda **kw: None)
    return SimpleNamespace(
        state_dir=tmp_path, root=ROOT, env=SimpleNamespace(name="dev", is_local=False), lake_uri="s3://lake",
        settings=load_settings(ROOT / "config" / "deplat.yaml", environ={}), reporter=NullReporter(),
        aws=SimpleNamespace(client=lambda name: cloudwatch),
        outputs=lambda required=True: OUTPUTS, output=OUTPUTS.__getitem__)


def test_dag_tasks_are_the_registry_steps_with_deplat_runs_requests(tmp_path, monkeypatch):
    from deplat.dq.service import DqService

    manifest = _manifest()
    monkeypatch.setattr(RunService, "_manifest", lambda self: (manifest, "art"))
    monkeypatch.setattr(DqService, "validate", lambda self, suites: None)  # the lake's schemas: not here
    monkeypatch.setattr("deplat.recovery.require_data_files", lambda ctx, tables: None)  # nor its files
    ctx = _ctx(tmp_path)
    spec = dag_spec(ctx)
    assert [(t.pipeline, t.step) for t in spec.tasks] == [(p, s.name) for p, s in resolve("all")]
    assert spec.manifest_hash == manifest.manifest_hash and spec.schedule == "@daily"

    # What `deplat run all` submits for the same manifest, through the same engine request builder.
    dq_line = 'DEPLAT_METRICS {"step": "dq_check", "read": 1, "written": 1, "rejected": 0, "dq": []}'
    engine = ScriptedEngine(stdout={"dq_check": dq_line + "\n"})
    run = run_service(ctx, engine=engine, clock=lambda: 0.0, sleep=lambda s: None).run("all")  # as `deplat run`
    emr = EmrServerlessEngine(None, OUTPUTS["emr_application_id"], OUTPUTS["emr_job_role_arn"], "art",
                              log_group=OUTPUTS["log_group_name"], source_roles=OUTPUTS["emr_source_role_arns"])
    assert len(engine.submitted) == len(spec.tasks)
    for task, (job, key) in zip(spec.tasks, engine.submitted):
        submitted = emr._job_params(job, key, "token")
        submitted.pop("clientToken")
        args = submitted["jobDriver"]["sparkSubmit"]["entryPointArguments"]
        args[args.index(run.batch_id)] = BATCH_TEMPLATE  # the one per-run value
        assert task.request == submitted, task.task_id
    gate = next(t for t in spec.tasks if t.gate)
    assert "--suites" in gate.request["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    snowflake = next(t for t in spec.tasks if t.step == "snowflake_to_bronze")
    assert snowflake.request["executionRoleArn"].endswith("deplat-dev-snowflake")


def test_rendered_file_orders_tasks_with_the_verdict_before_gold(tmp_path, monkeypatch):
    monkeypatch.setattr(RunService, "_manifest", lambda self: (_manifest(), "art"))
    spec = dag_spec(_ctx(tmp_path))
    source = render(spec)
    tree = ast.parse(source)  # valid Python
    payload = next(n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and n.value.startswith("{"))
    doc = json.loads(payload.value)
    assert doc == json.loads(json.dumps(spec.to_dict()))
    assert "catchup=False" in source and "EmrServerlessStartJobOperator" in source
    ids = [t["task_id"] for t in doc["tasks"]]
    assert ids.index("gold__dq_check") + 1 == ids.index("gold__gold_aggregates")  # verdict goes between


def test_client_token_is_stable_per_task_instance_and_valid():
    token = client_token("deplat_platform", "fx__fx_to_bronze", "2026-12-03T00:00:00+00:00", "m" * 64)
    assert token == client_token("deplat_platform", "fx__fx_to_bronze", "2026-12-03T00:00:00+00:00", "m" * 64)
    assert token != client_token("deplat_platform", "fx__fx_to_bronze", "2026-12-04T00:00:00+00:00", "m" * 64)
    assert token != client_token("deplat_platform", "fx__fx_bronze_to_silver", "2026-12-03T00:00:00+00:00",
                                 "m" * 64)
    assert token != client_token("deplat_platform", "fx__fx_to_bronze", "2026-12-03T00:00:00+00:00", "n" * 64)
    assert len(token) == 48 and token.isalnum()
    # A try after a failed run sends a new token; after a lost worker, the same one.
    assert run_token(token, 0) != run_token(token, 1) and len(run_token(token, 10 ** 14)) <= 64
