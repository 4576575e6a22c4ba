"""A throwaway deplat project for the deploy/run integration tests: a copy of the package sources
(so the wheel builds), the real config, tiny jobs, a fresh moto bucket, a new EMR Serverless
application (the stand-in runs the jobs) and a temporary outputs.json.
DEPLAT_HOME and the lake point into the temp dir, so nothing touches the repo's .deplat/."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import boto3

from tests.conftest import clear_deplat_env

ROOT = Path(__file__).resolve().parents[2]
MOTO = "http://127.0.0.1:5050"

SMOKE_OK = '''
from deplat_job.pipelines.common import emit_metrics, job_parser, parse_args, table_path
from deplat_job.pipelines.session import get_spark


def main():
    args = parse_args(job_parser("smoke: write a tiny Delta table"))
    print("hello from smoke " + args.batch_id, flush=True)
    spark = get_spark("smoke_ok")
    df = spark.range(5).withColumnRenamed("id", "n")
    df.write.format("delta").mode("overwrite").save(table_path(args.lake, "silver", "smoke"))
    emit_metrics("smoke_ok", read=5, written=df.count(), rejected=0)
    spark.stop()


if __name__ == "__main__":
    main()
'''

SMOKE_BOOM = '''
from deplat_job.pipelines.common import job_parser, parse_args
from deplat_job.pipelines.session import get_spark


def transform(spark):
    raise RuntimeError("boom: the smoke job failed on purpose")


def main():
    parse_args(job_parser("smoke: always fails"))
    spark = get_spark("smoke_boom")
    transform(spark)


if __name__ == "__main__":
    main()
'''

SMOKE_SLEEP = '''
import time

print("sleeping", flush=True)
time.sleep(120)
'''


ROLE = "arn:aws:iam::123456789012:role/deplat-test-job"
# As terraform/environments/local.tfvars: four default drivers, one pre-initialized (a warm driver).
CAPACITY = {"maximumCapacity": {"cpu": "16 vCPU", "memory": "64 GB", "disk": "100 GB"},
            "initialCapacity": {"DRIVER": {"workerCount": 1, "workerConfiguration": {"cpu": "4 vCPU",
                                                                                     "memory": "16 GB"}}},
            "autoStopConfiguration": {"enabled": True, "idleTimeoutMinutes": 2}}


def s3():
    return boto3.client("s3", endpoint_url=MOTO, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def standin_runs(application_id: str) -> Path:
    """The stand-in's run folders of an application on the local moto (what its workers wrote)."""
    from deplat.local.standins.emr_serverless import record

    found = record(MOTO)
    assert found, f"no EMR Serverless stand-in serves {MOTO}"
    return Path(found["root"]) / "applications" / application_id / "runs"


def emr_application(capacity: dict | None = None) -> str:
    """A new EMR Serverless application on the local moto (its stand-in runs the project's jobs),
    sized as the local env's Terraform makes it unless `capacity` says otherwise."""
    client = boto3.client("emr-serverless", endpoint_url=MOTO, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return client.create_application(name=f"deplat-test-{uuid.uuid4().hex[:8]}", releaseLabel="emr-7.2.0",
                                     type="SPARK", **(capacity or CAPACITY))["applicationId"]


def make_project(base: Path, monkeypatch, jobs: dict[str, str], capacity: dict | None = None) -> tuple[Path, str]:
    """Create the project under `base`, a bucket on moto, an EMR Serverless application (`capacity`:
    see emr_application), and point deplat at them: every other DEPLAT_* variable cleared (as the
    deplat_env fixture does), DEPLAT_CONFIG, DEPLAT_HOME (base/home) and DEPLAT_LAKE_URI (base/lake) set."""
    root = base / "project"
    root.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, root / name)
    shutil.copytree(ROOT / "src", root / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    (root / "config").mkdir()
    shutil.copy2(ROOT / "config" / "deplat.yaml", root / "config" / "deplat.yaml")
    (root / "dq" / "suites").mkdir(parents=True)
    (root / "dq" / "suites" / "smoke.yml").write_text("table: silver.smoke\nexpectations: []\n")
    (root / "jobs").mkdir()
    for name, text in jobs.items():
        (root / "jobs" / f"{name}.py").write_text(text)
    bucket = f"deplat-test-{uuid.uuid4().hex[:10]}"
    s3().create_bucket(Bucket=bucket)
    home = base / "home"
    (home / "local").mkdir(parents=True)
    (home / "local" / "outputs.json").write_text(json.dumps(
        {"environment": "local", "region": "us-east-1", "artifacts_bucket": bucket,
         "lake_bucket": f"{bucket}-lake", "emr_application_id": emr_application(capacity), "emr_job_role_arn": ROLE}))
    clear_deplat_env(monkeypatch)
    monkeypatch.setenv("DEPLAT_CONFIG", str(root / "config" / "deplat.yaml"))
    monkeypatch.setenv("DEPLAT_HOME", str(home))
    monkeypatch.setenv("DEPLAT_LAKE_URI", str(base / "lake"))
    return root, bucket


def keys(bucket: str, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update(o["Key"] for o in page.get("Contents", []))
    return out
