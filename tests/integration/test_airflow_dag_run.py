"""The rendered DAG run by a real Airflow 2.10.3 (the cached venv, airflow_venv.py) with `airflow dags test`
against a private moto with the EMR Serverless stand-in (test_emr_standin's fixtures): the Amazon
provider's EmrServerlessStartJobOperator really calls StartJobRun/GetJobRun and the stand-in really
runs the jobs.

- A task whose waiter gives up while its run still goes (apache/airflow#42401), retried in a fresh
  process per try (`--use-executor`, as on MWAA's workers), starts exactly one EMR run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from airflow_venv import ensure_airflow_venv
from test_emr_standin import project, standin  # noqa: F401 - fixtures: a private moto with the stand-in

pytestmark = [pytest.mark.integration, pytest.mark.spark]
LOGICAL_DATE = "2026-12-03"


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
    from deplat.context import Context

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
