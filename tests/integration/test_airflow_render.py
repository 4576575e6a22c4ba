"""`deplat airflow render --upload` against the local stack (moto; no JVM): the DAG of the deployed
manifest lands where terraform/mwaa.tf points MWAA (airflow/dags/, airflow/requirements.txt), one job
task per step of `all` naming the deployed job scripts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from deplat_project import make_project, s3
from typer.testing import CliRunner

from deplat.cli import app
from deplat.pipelines.registry import resolve

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


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
