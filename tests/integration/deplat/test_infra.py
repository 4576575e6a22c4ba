"""`deplat infra` end to end: real Terraform + the real hashicorp/aws provider against moto.

One apply of the `local` environment per session (a no-op when it is already applied; other
suites need its outputs). Destroy runs against a throwaway environment with its own project
prefix and state dir, applied in the background while the local env's tests run.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from deplat.infra import CONTRACT_KEYS

pytestmark = [pytest.mark.integration, pytest.mark.terraform]

ROOT = Path(__file__).resolve().parents[3]
DEPLAT = str(Path(sys.executable).with_name("deplat"))
MOTO = "http://127.0.0.1:5050"


def clean_env(extra=None):
    """The caller's environment without DEPLAT_* (a stray DEPLAT_ENV must not aim tests elsewhere)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")} | (extra or {})


def deplat(*args, env=None, timeout=600):
    return subprocess.run([DEPLAT, *args], cwd=ROOT, env=clean_env(env), capture_output=True, text=True,
                          timeout=timeout)


def aws(service):
    return boto3.client(service, endpoint_url=MOTO, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, local_stack):
    """A second platform (own project prefix, config and state dir), applied in the background."""
    home = tmp_path_factory.mktemp("infra-scratch")
    (home / "config").mkdir()
    (home / "terraform").symlink_to(ROOT / "terraform")
    project = f"dpt{uuid.uuid4().hex[:8]}"
    local = {"kind": "local", "region": "us-east-1", "endpoint_url": MOTO}
    config = {
        "project": project,
        "default_env": "local",
        "environments": {
            "local": local,
            "staging": local,  # unknown to the Terraform: its variable validation must fail
            "prod": {**local, "protected": True},
        },
    }
    (home / "config" / "deplat.yaml").write_text(yaml.safe_dump(config))
    env = {"DEPLAT_CONFIG": str(home / "config" / "deplat.yaml"), "DEPLAT_HOME": str(home / ".deplat")}
    started = time.monotonic()
    proc = subprocess.Popen([DEPLAT, "-o", "json", "infra", "apply", "--yes"], cwd=ROOT, env=clean_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = {"project": project, "env": env, "home": home, "proc": proc, "started": started}
    yield state
    # A partial run (-k ...) still cleans up: finish the apply, then destroy what it made.
    proc.communicate(timeout=900)
    if (home / ".deplat" / "local" / "outputs.json").exists():
        deplat("infra", "destroy", "--yes", env=env)


def scratch_applied(scratch):
    if "apply" not in scratch:
        out, err = scratch["proc"].communicate(timeout=900)
        assert scratch["proc"].returncode == 0, err
        scratch["apply"] = json.loads(out)
        scratch["apply_seconds"] = time.monotonic() - scratch["started"]
    return scratch["apply"]


@pytest.fixture(scope="module")
def applied(local_stack, scratch):
    """The local environment, applied once (idempotent: an applied env only gets a plan)."""
    started = time.monotonic()
    result = deplat("-o", "json", "infra", "apply", "--yes")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    data["wall_seconds"] = time.monotonic() - started
    return data


def test_terraform_fmt_and_validate_pass():
    result = deplat("infra", "validate")
    assert result.returncode == 0, result.stderr
    assert "valid and formatted" in result.stdout


def test_apply_caches_every_contract_output(applied):
    cached = json.loads((ROOT / ".deplat" / "local" / "outputs.json").read_text())
    assert set(CONTRACT_KEYS) <= set(cached)
    assert cached == applied["outputs"]
    assert cached["environment"] == "local" and cached["region"] == "us-east-1"
    assert cached["secret_names"] == {s: f"deplat/local/{s}" for s in ("salesforce", "snowflake", "kafka", "rds")}


def test_immediate_plan_reports_no_changes(applied):
    result = deplat("infra", "plan")
    assert result.returncode == 0, result.stderr
    assert "no changes" in result.stdout.lower()


def test_output_json_has_every_name(applied):
    result = deplat("-o", "json", "infra", "output")
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    assert set(CONTRACT_KEYS) <= set(outputs)
    assert all(outputs[k] for k in CONTRACT_KEYS)
    assert outputs["athena_results_location"] == f"s3://{outputs['artifacts_bucket']}/athena-results/"


def test_names_are_real_resources_in_moto(applied):
    out = applied["outputs"]
    app = aws("emr-serverless").get_application(applicationId=out["emr_application_id"])["application"]
    # CREATED until a run starts it; the stand-in then starts and (idle) stops it as AWS does
    assert app["state"] in ("CREATED", "STARTING", "STARTED", "STOPPING", "STOPPED")
    assert app["releaseLabel"].startswith("emr-7.")
    assert app["autoStopConfiguration"]["enabled"] and app["maximumCapacity"]["cpu"] == "16 vCPU"
    # local.tfvars: one pre-initialized driver, which the EMR Serverless stand-in serves with a warm driver
    assert app["initialCapacity"]["DRIVER"]["workerCount"] == 1

    s3, kms = aws("s3"), aws("kms")
    for bucket in (out["lake_bucket"], out["artifacts_bucket"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": out["kms_key_arn"]}
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        # local turns the TLS-only policy off (moto denies regardless of conditions); cloud envs keep it.
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="_probe/write-ok", Body=b"ok")
        assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]

    key_id = out["kms_key_arn"].rsplit("/", 1)[1]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert kms.describe_key(KeyId=out["kms_key_alias"])["KeyMetadata"]["Arn"] == out["kms_key_arn"]

    glue = aws("glue")
    for db in (out["glue_database_silver"], out["glue_database_gold"]):
        assert glue.get_database(Name=db)["Database"]["Name"] == db
    workgroup = aws("athena").get_work_group(WorkGroup=out["athena_workgroup"])["WorkGroup"]
    location = workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"]
    assert location == out["athena_results_location"]

    secrets = aws("secretsmanager")
    for name in out["secret_names"].values():
        assert secrets.describe_secret(SecretId=name)["KmsKeyId"] == out["kms_key_arn"]
    role = aws("iam").get_role(RoleName=out["emr_job_role_arn"].rsplit("/", 1)[1])["Role"]
    assert "emr-serverless.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    assert aws("sns").get_topic_attributes(TopicArn=out["alerts_topic_arn"])["Attributes"]["KmsMasterKeyId"]
    (group,) = aws("logs").describe_log_groups(logGroupNamePrefix=out["log_group_name"])["logGroups"]
    assert group["retentionInDays"] == 7
    alarms = aws("cloudwatch").describe_alarms(AlarmNamePrefix="deplat-local-")["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} >= {"FailedJobs", "FailedSuites"}
    schedule = aws("scheduler").get_schedule(Name="deplat-local-weekly-maintenance")
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert json.loads(schedule["Target"]["Input"])["ApplicationId"] == out["emr_application_id"]


def test_lake_formation_governs_the_applied_lake(applied):
    """What the provider sent to moto: admins, both default-permission lists empty (no
    IAM_ALLOWED_PRINCIPALS), the lake registered, the job role's grants; and `deplat lf show` says
    the lake is governed."""
    out = applied["outputs"]
    lf = aws("lakeformation")
    settings = lf.get_data_lake_settings()["DataLakeSettings"]
    assert [a["DataLakePrincipalIdentifier"] for a in settings["DataLakeAdmins"]] == out["lf_admins"]
    # The provider omits both default-permission lists, which AWS reads as empty (Lake Formation
    # guide, "Changing the default settings for your data lake"); moto stores the request as sent,
    # so its own IAM_ALLOWED_PRINCIPALS defaults are gone.
    assert settings.get("CreateDatabaseDefaultPermissions", []) == []
    assert settings.get("CreateTableDefaultPermissions", []) == []
    assert "IAM_ALLOWED_PRINCIPALS" not in json.dumps(settings)
    lake_arn = f"arn:aws:s3:::{out['lake_bucket']}"
    assert out["lf_lake_location"] == lake_arn
    (registered,) = [r for r in lf.list_resources()["ResourceInfoList"] if r["ResourceArn"] == lake_arn]
    assert registered["RoleArn"].endswith("role/deplat-local-lf-location")
    grants = [g for g in lf.list_permissions()["PrincipalResourcePermissions"]  # Principal needs Resource
              if g["Principal"]["DataLakePrincipalIdentifier"] == out["emr_job_role_arn"]]
    by_kind = {next(iter(g["Resource"])): g["Permissions"] for g in grants}
    assert by_kind["DataLocation"] == ["DATA_LOCATION_ACCESS"]
    assert "CREATE_TABLE" in by_kind["Database"] and "SELECT" in by_kind["Table"]
    result = deplat("-o", "json", "lf", "show")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["governed"] is True, status


def test_each_source_role_reads_only_its_secret(applied):
    out = applied["outputs"]
    iam, secrets = aws("iam"), aws("secretsmanager")

    def secret_resources(role_arn):
        name = role_arn.rsplit("/", 1)[1]
        docs = [iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_role_policies(RoleName=name)["PolicyNames"]]
        statements = [s for d in docs for s in (json.loads(d) if isinstance(d, str) else d)["Statement"]]
        return sorted(r for s in statements if any(str(a).startswith("secretsmanager:") for a in s["Action"])
                      for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]))

    assert secret_resources(out["emr_job_role_arn"]) == []
    assert sorted(out["emr_source_role_arns"]) == sorted(out["secret_names"])
    for source, role in out["emr_source_role_arns"].items():
        arn = secrets.describe_secret(SecretId=out["secret_names"][source])["ARN"]
        assert secret_resources(role) == [arn], source
        trust = iam.get_role(RoleName=role.rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
        condition = (json.loads(trust) if isinstance(trust, str) else trust)["Statement"][0]["Condition"]
        assert condition["StringEquals"]["aws:SourceAccount"] and condition["ArnLike"]["aws:SourceArn"]


def test_unknown_environment_fails_with_terraforms_message(scratch):
    result = deplat("-e", "staging", "infra", "plan", env=scratch["env"])
    assert result.returncode == 3, result.stderr
    assert "Invalid value for variable" in result.stderr
    assert "The environment must be one of: local, dev, prod." in result.stderr


def test_destroy_refuses_without_yes_and_on_protected_envs(scratch):
    result = deplat("infra", "destroy", env=scratch["env"])
    assert result.returncode == 7 and "--yes" in result.stderr
    result = deplat("-e", "prod", "infra", "destroy", "--yes", env=scratch["env"])
    assert result.returncode == 7 and "--force-prod" in result.stderr


def test_fresh_apply_creates_everything(scratch):
    data = scratch_applied(scratch)
    assert data["applied"] and data["add"] >= 33 and data["destroy"] == 0
    assert set(data["by_type"]) >= {
        "aws_s3_bucket", "aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block", "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_lifecycle_configuration", "aws_kms_key", "aws_kms_alias", "aws_glue_catalog_database",
        "aws_athena_workgroup", "aws_emrserverless_application", "aws_iam_role", "aws_iam_role_policy",
        "aws_secretsmanager_secret", "aws_sns_topic", "aws_cloudwatch_log_group",
        "aws_cloudwatch_metric_alarm", "aws_cloudwatch_dashboard", "aws_scheduler_schedule",
        "aws_lakeformation_lf_tag"}
    # Secrets are empty shells: Terraform never holds a value.
    secrets = aws("secretsmanager")
    for name in data["outputs"]["secret_names"].values():
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.get_secret_value(SecretId=name)


def test_secrets_put_reads_stdin_and_never_echoes_the_value(scratch):
    from typer.testing import CliRunner

    from deplat.cli import secrets as secrets_cli
    from deplat_job.errors import ConfigError

    names = scratch_applied(scratch)["outputs"]["secret_names"]
    value = json.dumps({"login_url": "https://login.salesforce.com", "client_id": "cid", "client_secret": "cs3cr3t",
                        "username": "svc-deplat", "password": "pa55-w0rd-xyz"})
    runner = CliRunner()
    env = scratch["env"] | {"DEPLAT_ENV": "local"}
    result = runner.invoke(secrets_cli.app, ["put", "salesforce"], input=value, env=env)
    assert result.exit_code == 0, result.output
    assert "pa55-w0rd-xyz" not in result.output
    stored = aws("secretsmanager").get_secret_value(SecretId=names["salesforce"])["SecretString"]
    assert json.loads(stored) == json.loads(value)  # stored as canonical JSON

    listed = runner.invoke(secrets_cli.app, ["list", "-o", "json"], env=env)
    assert {i["source"]: i["has_value"] for i in json.loads(listed.stdout)} == {
        "salesforce": True, "snowflake": False, "kafka": False, "rds": False}
    assert "pa55-w0rd-xyz" not in listed.stdout

    bad = runner.invoke(secrets_cli.app, ["put", "kafka"], input="hunter2", env=env)
    assert isinstance(bad.exception, ConfigError) and bad.exception.exit_code == 2
    assert "hunter2" not in str(bad.exception) + bad.output


def test_destroy_removes_everything_but_keeps_the_kms_key(scratch):
    out = scratch_applied(scratch)["outputs"]
    dry = deplat("-o", "json", "infra", "destroy", "--dry-run", env=scratch["env"])
    assert dry.returncode == 0, dry.stderr
    preview = json.loads(dry.stdout)
    assert preview["dry_run"] and preview["destroy"] >= 30
    assert "aws_kms_key" not in preview["by_type"] and preview["retained_kms_keys"] == [out["kms_key_arn"]]
    assert aws("s3").head_bucket(Bucket=out["lake_bucket"])  # a dry run changes nothing

    result = deplat("infra", "destroy", "--yes", env=scratch["env"])
    assert result.returncode == 0, result.stderr
    assert f"Kept KMS key {out['kms_key_arn']}" in result.stdout

    buckets = {b["Name"] for b in aws("s3").list_buckets()["Buckets"]}
    assert not {out["lake_bucket"], out["artifacts_bucket"]} & buckets
    apps = aws("emr-serverless").list_applications()["applications"]
    assert all(a["state"] == "TERMINATED" for a in apps if a["id"] == out["emr_application_id"])
    glue = aws("glue")
    for db in (out["glue_database_silver"], out["glue_database_gold"]):
        with pytest.raises(glue.exceptions.EntityNotFoundException):
            glue.get_database(Name=db)
    secrets = aws("secretsmanager")
    for name in out["secret_names"].values():
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.describe_secret(SecretId=name)
    key = aws("kms").describe_key(KeyId=out["kms_key_arn"])["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and "DeletionDate" not in key
    assert not (scratch["home"] / ".deplat" / "local" / "outputs.json").exists()
    # Nothing is left in the state: a second destroy has nothing to do.
    again = deplat("-o", "json", "infra", "destroy", "--yes", env=scratch["env"])
    assert again.returncode == 0 and json.loads(again.stdout)["destroy"] == 0
