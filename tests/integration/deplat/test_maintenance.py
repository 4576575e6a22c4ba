"""The weekly EventBridge schedule starts the job `deplat run maintenance` starts: the same code
(the artifacts/current/ aliases deploy keeps up to date), the same Spark/Delta parameters and the
log locations `deplat logs` reads. Real Terraform applied to moto (idempotent: a no-op when the
local env is already applied), then a real `deplat deploy`."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.terraform]

ROOT = Path(__file__).resolve().parents[3]
DEPLAT = str(Path(sys.executable).with_name("deplat"))
MOTO = "http://127.0.0.1:5050"


def _deplat(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    return subprocess.run([DEPLAT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _aws(service):
    return boto3.client(service, endpoint_url=MOTO, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _camel(value):
    """The schedule's PascalCase request (universal target) in the SDK's camelCase shape."""
    if isinstance(value, dict):
        return {(k if k.isupper() else k[0].lower() + k[1:]): _camel(v) for k, v in value.items()}
    return value


def test_schedule_starts_the_deployed_maintenance_job_like_run_maintenance(local_stack):
    from deplat.artifacts import current_aliases, load_manifest
    from deplat.engines.base import JobSpec
    from deplat.engines.emr_serverless import EmrServerlessEngine

    applied = _deplat("-o", "json", "infra", "apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    out = json.loads(applied.stdout)["outputs"]
    deployed = _deplat("deploy")
    assert deployed.returncode == 0, deployed.stderr

    bucket = out["artifacts_bucket"]
    from botocore.config import Config

    # moto keeps the source's multipart checksum on a copy_object target (AWS recomputes it):
    # compare the bytes ourselves instead of letting botocore validate that stale checksum.
    s3 = boto3.client("s3", endpoint_url=MOTO, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing",
                      config=Config(response_checksum_validation="when_required"))
    manifest = load_manifest(s3, bucket)
    aliases = current_aliases(manifest)
    by_source = {source: alias for alias, source in aliases.items()}
    assert {"artifacts/current/jobs/delta_maintenance.py", "artifacts/current/deplat_job.zip",
            "artifacts/current/deplat-deps.tar.gz"} <= set(aliases)
    for alias, source in aliases.items():  # every alias holds the current manifest's content
        digest = [hashlib.sha256(s3.get_object(Bucket=bucket, Key=k)["Body"].read()).digest()
                  for k in (alias, source)]
        assert digest[0] == digest[1], alias

    schedule = _aws("scheduler").get_schedule(Name="deplat-local-weekly-maintenance")
    target = json.loads(schedule["Target"]["Input"])
    assert schedule["Target"]["Arn"].endswith(":aws-sdk:emrserverless:startJobRun")

    # What `deplat run maintenance` submits to EMR Serverless for the current manifest.
    def uri(name):
        return manifest.uri(bucket, name)

    spec = JobSpec("maintenance", "delta_maintenance", uri("jobs/delta_maintenance.py"),
                   ("--lake", f"s3://{out['lake_bucket']}", "--env", "local"),
                   (uri(manifest.job_package),), (uri(manifest.deps_archive),))  # as runs._step_uris
    engine = EmrServerlessEngine(None, out["emr_application_id"], out["emr_job_role_arn"], bucket,
                                 log_group=out["log_group_name"])
    params = engine._job_params(spec, "k" * 64, "token")

    def via_alias(text):
        for source, alias in by_source.items():
            text = text.replace(f"s3://{bucket}/{source}", f"s3://{bucket}/{alias}")
        return text

    driver, expected = target["JobDriver"]["SparkSubmit"], params["jobDriver"]["sparkSubmit"]
    assert driver["EntryPoint"] == via_alias(expected["entryPoint"])
    assert driver["EntryPoint"] == f"s3://{bucket}/artifacts/current/jobs/delta_maintenance.py"
    assert driver["EntryPointArguments"] == expected["entryPointArguments"]
    assert driver["SparkSubmitParameters"] == via_alias(expected["sparkSubmitParameters"])
    assert "artifacts/current/deplat-deps.tar.gz#deps" in driver["SparkSubmitParameters"]
    assert _camel(target["ConfigurationOverrides"]["MonitoringConfiguration"]) == \
        params["configurationOverrides"]["monitoringConfiguration"]
    assert (target["ApplicationId"], target["ExecutionRoleArn"]) == (params["applicationId"],
                                                                     params["executionRoleArn"])
