"""The rendered DAG run by a real Airflow 2.10.3 (the cached venv, airflow_venv.py) with `airflow dags test`
against a private moto with the EMR Serverless stand-in (local/standins/emr_serverless/test_standin.py's
fixtures): the Amazon provider's EmrServerlessStartJobOperator really calls StartJobRun/GetJobRun and the
stand-in really runs the jobs.

- The DAG of `all` (every step, the gate's verdict) succeeds, and the lake it wrote holds, table by
  table, the row counts of a `deplat run all` of the same manifest into a second fresh lake from the
  same source inputs (the DMS landing files copied before either ran; the other sources are the shared
  stack's, unchanged between the runs). Two fresh lakes rather than the DAG rerunning over run all's
  lake: every step is idempotent, so a rerun leaves the counts unchanged even when its jobs wrote
  nothing or wrote elsewhere; a fresh lake is empty unless the DAG's jobs fill it.
- A task whose waiter gives up while its run still goes (apache/airflow#42401), retried in a fresh
  process per try (`--use-executor`, as on MWAA's workers), starts exactly one EMR run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deplat.cli import app
from deplat.registry import resolve
from tests.integration import deplat_project
from tests.integration.airflow_venv import ensure_airflow_venv
from tests.integration.deplat.local.standins.emr_serverless.test_standin import ROLE, project, standin  # noqa: F401 - fixtures: a private moto with the stand-in

pytestmark = [pytest.mark.integration, pytest.mark.spark]
LOGICAL_DATE = "2026-12-03"
ROOT = Path(__file__).resolve().parents[3]
# One pre-initialized driver (a warm driver serves the steps, as the local engine's does), never auto-stopped.
CAPACITY = {"maximumCapacity": {"cpu": "8 vCPU", "memory": "32 GB", "disk": "100 GB"},
            "initialCapacity": {"DRIVER": {"workerCount": 1, "workerConfiguration": {"cpu": "4 vCPU",
                                                                                     "memory": "16 GB"}}},
            "autoStopConfiguration": {"enabled": False}}


def cli(*args):
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    assert result.exit_code == 0, f"deplat {' '.join(args)}\n{result.output[-3000:]}"
    return result


@pytest.fixture
def platform(standin, local_stack, tmp_path, monkeypatch):  # noqa: F811
    """Every job of `all` and the real DQ suites deployed to the private moto, whose stand-in runs them
    in a new application; the local env's sources are the shared stack's (seeded). -> (bucket, app id)"""
    monkeypatch.setattr(deplat_project, "MOTO", standin.endpoint)
    jobs = {st.name: (ROOT / "jobs" / f"{st.name}.py").read_text() for _, st in resolve("all")}
    root, bucket = deplat_project.make_project(tmp_path, monkeypatch, jobs)
    shutil.rmtree(root / "dq" / "suites")
    shutil.copytree(ROOT / "dq" / "suites", root / "dq" / "suites")
    config = root / "config" / "deplat.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["environments"]["local"].update(endpoint_url=standin.endpoint, engine="emr-serverless")
    doc["local_stack"]["moto_port"] = standin.port
    config.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("DEPLAT_HOME", str(standin.home))
    app_id = standin.emr.create_application(name=f"deplat-airflow-{uuid.uuid4().hex[:8]}", releaseLabel="emr-7.2.0",
                                            type="SPARK", **CAPACITY)["applicationId"]
    outputs = standin.home / "local" / "outputs.json"
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text(json.dumps({"environment": "local", "region": "us-east-1", "artifacts_bucket": bucket,
                                   "lake_bucket": f"{bucket}-lake", "emr_application_id": app_id,
                                   "emr_job_role_arn": ROLE}))
    monkeypatch.chdir(root)
    cli("deploy", "--no-deps-archive")
    return bucket, app_id


def _airflow_env(tmp_path: Path, endpoint: str, dags: Path) -> dict[str, str]:
    """An Airflow home of its own (SQLite, SequentialExecutor) whose aws_default connection is the stand-in;
    the venv's bin first on PATH (the executor runs `airflow tasks run`)."""
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    return {"AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True", "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn),
            "PATH": f"{ensure_airflow_venv().parent}:/usr/bin:/bin", "HOME": str(tmp_path)}


def _render(tmp_path: Path, pipeline: str, **timing) -> Path:
    from deplat.airflow_dag import dag_spec, render
    from deplat.core.context import Context

    dags = tmp_path / "dags"
    dags.mkdir(exist_ok=True)
    (dags / "deplat_platform.py").write_text(render(dag_spec(Context(), pipeline, **timing)))
    return dags


def _dags_test(tmp_path: Path, env: dict[str, str], *flags: str, timeout: float) -> subprocess.CompletedProcess:
    airflow = str(ensure_airflow_venv().with_name("airflow"))
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return subprocess.run([airflow, "dags", "test", *flags, "deplat_platform", LOGICAL_DATE], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _attempts(tmp_path: Path, task_id: str) -> list[str]:
    logs = tmp_path / "airflow" / "logs" / "dag_id=deplat_platform"
    return sorted(p.name for p in logs.glob(f"run_id=*/task_id={task_id}/attempt=*.log"))


def test_a_task_retried_after_its_waiter_gave_up_starts_no_second_emr_run(standin, project, tmp_path):  # noqa: F811
    bucket, app_id = project
    # The run ticks for 8 s; each try waits 2 s for it, then fails (the provider's "max attempts
    # reached"), as a long job does on MWAA when waiter_max_attempts runs out.
    dags = _render(tmp_path, "smoke_tick", poll_seconds=1, wait_seconds=2, retries=4, retry_delay_seconds=1)
    env = _airflow_env(tmp_path, standin.endpoint, dags)
    done = _dags_test(tmp_path, env, "--use-executor", timeout=600)
    attempts = _attempts(tmp_path, "smoke_tick__smoke_tick")
    assert len(attempts) >= 2, attempts  # it did fail and retry
    runs = standin.emr.list_job_runs(applicationId=app_id)["jobRuns"]
    # A token per try (the provider's uuid, drawn at each parse) started 5 runs here, and the DAG failed.
    assert [r["state"] for r in runs] == ["SUCCESS"], (attempts, runs)  # one run for every try
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job = standin.emr.get_job_run(applicationId=app_id, jobRunId=runs[0]["id"])["jobRun"]
    assert len(job["tags"]["deplat:airflow-ti"]) == 48 and job["tags"]["deplat:step"] == "smoke_tick"
    print(f"tries {attempts}, EMR runs {[r['id'] for r in runs]}")


def _row_counts(lake: Path) -> dict[str, int]:
    """Every Delta table under the lake (a folder holding _delta_log) -> its row count, read by delta-rs."""
    from deltalake import DeltaTable

    return {str(log.parent.relative_to(lake)): DeltaTable(str(log.parent)).to_pyarrow_table().num_rows
            for log in sorted(lake.glob("**/_delta_log"))}


def test_the_dag_of_all_succeeds_and_its_lake_has_the_row_counts_of_run_all(platform, standin, tmp_path,  # noqa: F811
                                                                         monkeypatch):
    bucket, app_id = platform
    dag_lake, run_lake = tmp_path / "lake", tmp_path / "lake-run-all"
    monkeypatch.setenv("DEPLAT_LAKE_URI", str(dag_lake))
    cli("local", "seed")  # the secrets into the private moto, the DMS full load into the DAG's lake
    shutil.copytree(dag_lake, run_lake)  # the same landing files for both

    dags = _render(tmp_path, "all", poll_seconds=2)
    env = _airflow_env(tmp_path, standin.endpoint, dags)
    done = _dags_test(tmp_path, env, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    airflow = str(ensure_airflow_venv().with_name("airflow"))
    states = subprocess.run([airflow, "tasks", "states-for-dag-run", "deplat_platform",
                             f"manual__{LOGICAL_DATE}T00:00:00+00:00", "-o", "json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert states.returncode == 0, states.stderr[-3000:]
    tasks = {t["task_id"]: t["state"] for t in json.loads(states.stdout)}
    steps = [f"{p}__{st.name}" for p, st in resolve("all")]
    assert tasks == {**dict.fromkeys(steps, "success"), "gold__dq_check__verdict": "success"}
    runs = standin.emr.list_job_runs(applicationId=app_id)["jobRuns"]
    assert len(runs) == len(steps) and {r["state"] for r in runs} == {"SUCCESS"}  # one EMR run per step
    dag_counts = _row_counts(dag_lake)

    monkeypatch.setenv("DEPLAT_LAKE_URI", str(run_lake))
    cli("run", "all", "--wait")
    run_counts = _row_counts(run_lake)
    assert len(standin.emr.list_job_runs(applicationId=app_id)["jobRuns"]) == 2 * len(steps)  # run all: EMR too
    print(json.dumps(dag_counts, indent=1))
    assert dag_counts == run_counts
    assert {"silver/fx_rates", "silver/orders_tpch", "silver/salesforce_account", "silver/rds_orders",
            "gold/daily_revenue"} <= set(dag_counts)
    assert all(dag_counts[t] > 0 for t in ("silver/fx_rates", "silver/orders", "gold/daily_revenue"))

