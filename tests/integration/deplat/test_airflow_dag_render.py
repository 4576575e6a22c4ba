"""`deplat airflow render --upload` against the local stack (moto; no JVM): the DAG of the deployed
manifest lands where terraform/mwaa.tf points MWAA (airflow/dags/, airflow/requirements.txt), one job
task per step of `all` naming the deployed job scripts; a real Airflow 2.10.3 (a cached venv, see
airflow_venv.py) imports it with no errors, in registry order with the gate's verdict before gold,
daily, no catch-up, and renders the batch id from the logical date."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat.registry import resolve
from tests.integration.airflow_venv import PINS, ensure_airflow_venv
from tests.integration.deplat_project import keys, make_project, s3

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_render_uploads_the_dag_of_the_deployed_manifest(local_stack, tmp_path, monkeypatch):
    jobs = {st.name: (ROOT / "jobs" / f"{st.name}.py").read_text() for _, st in resolve("all")}
    root, bucket = make_project(tmp_path, monkeypatch, jobs)
    shutil.rmtree(root / "dq" / "suites")
    shutil.copytree(ROOT / "dq" / "suites", root / "dq" / "suites")
    outputs = tmp_path / "home" / "local" / "outputs.json"
    outputs.write_text(json.dumps({**json.loads(outputs.read_text()), "emr_application_id": "00local",
                                   "emr_job_role_arn": "arn:aws:iam::123456789012:role/deplat-local-emr-job"}))
    monkeypatch.chdir(root)
    deployed = CliRunner().invoke(app, ["-o", "json", "deploy", "--no-deps-archive"])
    assert deployed.exit_code == 0, deployed.output
    manifest_hash = json.loads(deployed.stdout)["manifest_hash"]

    result = CliRunner().invoke(app, ["-o", "json", "airflow", "render", "--upload"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["uploaded"] == [f"s3://{bucket}/airflow/dags/deplat_platform.py",
                               f"s3://{bucket}/airflow/requirements.txt"]
    source = s3().get_object(Bucket=bucket, Key="airflow/dags/deplat_platform.py")["Body"].read().decode()
    compile(source, "deplat_platform.py", "exec")
    assert manifest_hash[:12] in source.splitlines()[0]
    assert [t["step"] for t in doc["tasks"]] == [st.name for _, st in resolve("all")]
    manifest = json.loads(s3().get_object(Bucket=bucket, Key="artifacts/manifest.json")["Body"].read())
    for task in doc["tasks"]:
        entry = task["request"]["jobDriver"]["sparkSubmit"]["entryPoint"]
        key = manifest["files"]["jobs/" + task["step"] + ".py"]["key"]
        assert entry == f"s3://{bucket}/{key}"
    reqs = s3().get_object(Bucket=bucket, Key="airflow/requirements.txt")["Body"].read().decode()
    assert "constraints-2.10.3/constraints-3.11.txt" in reqs and "apache-airflow-providers-amazon" in reqs

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deplat_platform.py").write_text(source)
    python = ensure_airflow_venv()
    probe = subprocess.run([str(python), "-c", AIRFLOW_PROBE, str(dags)], capture_output=True, text=True,
                           env={"AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                                "PATH": "/usr/bin:/bin"}, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["errors"] == {}
    steps = [f"{t['pipeline']}__{t['step']}" for t in doc["tasks"]]
    gate = steps.index("gold__dq_check")
    assert seen["order"] == [*steps[:gate + 1], "gold__dq_check__verdict", *steps[gate + 1:]]
    assert (seen["schedule"], seen["catchup"]) == ("0 0 * * *", False)
    assert "--batch-id" in seen["args"] and "20261203T000000Z-airflow" in seen["args"]


AIRFLOW_PROBE = """
import json, sys
import pendulum
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
dag = bag.dags.get("deplat_platform")
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}}
if dag is not None:
    task = dag.get_task("fx__fx_to_bronze")
    from jinja2 import Environment
    args = task.job_driver["sparkSubmit"]["entryPointArguments"]
    ts = pendulum.datetime(2026, 12, 3, tz="UTC")
    rendered = [Environment().from_string(a).render(ts_nodash=ts.strftime("%Y%m%dT%H%M%S")) for a in args]
    out.update(order=[t.task_id for t in dag.topological_sort()], schedule=dag.timetable.summary,
               catchup=dag.catchup, args=rendered)
print(json.dumps(out))
"""


def test_deploy_uploads_the_dag_and_pinned_requirements_only_when_mwaa_is_on(local_stack, tmp_path, monkeypatch):
    jobs = {st.name: (ROOT / "jobs" / f"{st.name}.py").read_text() for _, st in resolve("all")}
    root, bucket = make_project(tmp_path, monkeypatch, jobs)
    shutil.rmtree(root / "dq" / "suites")
    shutil.copytree(ROOT / "dq" / "suites", root / "dq" / "suites")
    outputs = tmp_path / "home" / "local" / "outputs.json"
    base = {**json.loads(outputs.read_text()), "emr_application_id": "00local",
            "emr_job_role_arn": "arn:aws:iam::123456789012:role/deplat-local-emr-job"}
    monkeypatch.chdir(root)

    outputs.write_text(json.dumps({**base, "mwaa_environment_name": None}))  # mwaa_enabled = false
    off = CliRunner().invoke(app, ["-o", "json", "deploy", "--no-deps-archive"])
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["airflow"] == [] and not keys(bucket, "airflow/")

    (root / "jobs" / "fx_to_bronze.py").write_text(jobs["fx_to_bronze"] + "\n# changed\n")  # a new manifest
    outputs.write_text(json.dumps({**base, "mwaa_environment_name": "deplat-local"}))
    on = CliRunner().invoke(app, ["-o", "json", "deploy", "--no-deps-archive"])
    assert on.exit_code == 0, on.output
    doc = json.loads(on.stdout)
    assert doc["airflow"] == [f"s3://{bucket}/airflow/dags/deplat_platform.py", f"s3://{bucket}/airflow/requirements.txt"]
    assert keys(bucket, "airflow/") == {"airflow/dags/deplat_platform.py", "airflow/requirements.txt"}
    dag = s3().get_object(Bucket=bucket, Key="airflow/dags/deplat_platform.py")
    assert dag["Metadata"]["manifest-hash"] == doc["manifest_hash"] != json.loads(off.stdout)["manifest_hash"]
    source = dag["Body"].read().decode()
    assert doc["manifest_hash"][:12] in source.splitlines()[0]
    reqs = s3().get_object(Bucket=bucket, Key="airflow/requirements.txt")["Body"].read().decode().splitlines()
    # Every provider pinned, at the versions the test Airflow (airflow_venv.PINS) runs the DAG with.
    assert reqs[1:] == [p for p in PINS if not p.startswith("apache-airflow==")]
    assert reqs[0] == '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-2.10.3/constraints-3.11.txt"'
