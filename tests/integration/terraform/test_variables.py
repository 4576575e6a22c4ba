"""The Terraform's variables, tested by what Terraform does with them (validate, plan, apply on
moto), not by reading .tf source text:

- the TLS-only bucket policy: a cloud env cannot turn it off (variable validation), local can, and
  the planned policy is a Deny on aws:SecureTransport = false;
- prod keeps its data (no force_destroy) where dev may not;
- the EMR application's optional VPC: subnets/security groups per env flow into the planned
  network_configuration, bad ids and security groups without subnets are refused, and the module
  applied on moto with a real VPC, subnet and security group gives the application that network.

Plans are targeted (the resources under test and what they depend on) and never applied; the one
apply is the EMR module alone in a small root (a VPC, a subnet, a security group, the application
and its role), destroyed afterwards.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest

from deplat.core.terraform import Terraform, cli_config, find_mirror, terraform_bin
from deplat.infra import local_backend, local_override
from deplat_job.errors import InfraError

ROOT = Path(__file__).resolve().parents[3]
MOTO = "http://127.0.0.1:5050"
APP = "module.emr.aws_emrserverless_application.this"
POLICY = "module.lake_bucket.aws_s3_bucket_policy.this[0]"
BUCKET = "module.lake_bucket.aws_s3_bucket.this"
REPLICATION_ROLE = "aws_iam_role.replication[0]"
SECRETS = "aws_secretsmanager_secret.source"

pytestmark = [pytest.mark.integration, pytest.mark.terraform]


def _terraform(workdir: Path, tmp: Path) -> Terraform:
    if not terraform_bin():
        pytest.fail("terraform is not on PATH (the CI image ships it)")
    config = tmp / "cli.tfrc"
    config.write_text(cli_config(find_mirror()))
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    return Terraform(workdir, config, env=creds)


@pytest.fixture(scope="module")
def platform(local_stack, tmp_path_factory):
    """The platform root, staged with the local env's moto override and a throwaway local state."""
    tmp = tmp_path_factory.mktemp("tfroot")
    work = tmp / "root"
    shutil.copytree(ROOT / "terraform", work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    (work / "deplat_local_override.tf").write_text(local_override(MOTO))
    (work / "deplat_backend_override.tf").write_text(local_backend(tmp / "terraform.tfstate"))
    tf = _terraform(work, tmp)
    tf.init()
    return tf, work


def _plan(platform, env: str, targets: list[str], **variables: str) -> dict:
    tf, work = platform
    out = work / f"plan-{uuid.uuid4().hex[:6]}"
    tf.plan(out, var_files=[work / "environments" / f"{env}.tfvars"],
            variables={"environment": env, **variables}, targets=targets)
    return tf.show_plan(out)


def _planned(plan: dict, address: str) -> dict | None:
    change = next((rc for rc in plan.get("resource_changes", []) if rc["address"] == address), None)
    return change["change"]["after"] if change and "create" in change["change"]["actions"] else None


def _plan_error(platform, env: str, target: str, **variables: str) -> str:
    # Terraform validates only the variables the targeted resources depend on.
    with pytest.raises(InfraError) as err:
        _plan(platform, env, [target], **variables)
    return str(err.value) + (err.value.detail or "")


def test_the_platform_validates(platform):
    tf, _ = platform
    warnings = tf.validate()  # errors raise InfraError
    assert all(w.severity == "warning" for w in warnings)


def test_a_cloud_env_cannot_turn_tls_off(platform):
    for env in ("dev", "prod"):
        assert "enforce_tls can be false only for the local environment" in _plan_error(
            platform, env, POLICY, enforce_tls="false")


def test_tls_policy_planned_for_dev_and_off_for_local(platform):
    dev = _plan(platform, "dev", [POLICY, BUCKET])
    assert _planned(dev, POLICY) is not None
    local = _plan(platform, "local", [POLICY, BUCKET])  # local.tfvars sets enforce_tls = false
    assert _planned(local, POLICY) is None and _planned(local, BUCKET) is not None
    # The policy document the planned policy is built from: Deny when aws:SecureTransport is false.
    module = dev["configuration"]["root_module"]["module_calls"]["lake_bucket"]["module"]
    doc = next(r for r in module["resources"] if r["address"] == "data.aws_iam_policy_document.tls_only")
    statement = doc["expressions"]["statement"][0]
    assert statement["effect"]["constant_value"] == "Deny"
    condition = statement["condition"][0]
    assert condition["variable"]["constant_value"] == "aws:SecureTransport"
    assert condition["values"]["constant_value"] == ["false"]


def test_prod_keeps_its_buckets_and_replicates_dev_may_empty_them(platform):
    prod = _plan(platform, "prod", [BUCKET, REPLICATION_ROLE, SECRETS])
    assert _planned(prod, BUCKET)["force_destroy"] is False
    assert _planned(prod, REPLICATION_ROLE) is not None  # prod.tfvars: replication_enabled = true
    secrets = [rc["change"]["after"] for rc in prod["resource_changes"] if rc["address"].startswith(SECRETS + "[")]
    assert secrets and all(s["recovery_window_in_days"] == 30 for s in secrets)
    dev = _plan(platform, "dev", [BUCKET, REPLICATION_ROLE])
    assert _planned(dev, BUCKET)["force_destroy"] is True and _planned(dev, REPLICATION_ROLE) is None


def test_emr_vpc_is_off_by_default_and_planned_from_the_env_variables(platform):
    default = _planned(_plan(platform, "dev", [APP]), APP)
    assert default["network_configuration"] == []
    with_vpc = _planned(_plan(platform, "dev", [APP], emr_subnet_ids='["subnet-0a1b2c3d", "subnet-0e1f2a3b"]',
                              emr_security_group_ids='["sg-0123abcd"]'), APP)
    (network,) = with_vpc["network_configuration"]
    assert sorted(network["subnet_ids"]) == ["subnet-0a1b2c3d", "subnet-0e1f2a3b"]
    assert network["security_group_ids"] == ["sg-0123abcd"]


def test_emr_vpc_ids_are_checked(platform):
    assert "emr_subnet_ids must be subnet ids" in _plan_error(platform, "dev", APP, emr_subnet_ids='["vpc-123"]')
    assert "security_group_ids need subnet_ids" in _plan_error(platform, "dev", APP,
                                                               emr_security_group_ids='["sg-0123abcd"]')


VPC_ROOT = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region                      = "us-east-1"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2           = "%(moto)s"
    emrserverless = "%(moto)s"
    iam           = "%(moto)s"
    sts           = "%(moto)s"
  }
}

resource "aws_vpc" "this" {
  cidr_block = "10.42.0.0/16"
}

resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.42.1.0/24"
}

resource "aws_security_group" "emr" {
  name   = "%(name)s-emr"
  vpc_id = aws_vpc.this.id
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

module "emr" {
  source               = "%(module)s"
  name                 = "%(name)s"
  release_label        = "emr-7.5.0"
  maximum_capacity     = { cpu = "4 vCPU", memory = "16 GB", disk = "40 GB" }
  idle_timeout_minutes = 15
  subnet_ids           = [aws_subnet.private.id]
  security_group_ids   = [aws_security_group.emr.id]
  lake_bucket_arn      = "arn:aws:s3:::%(name)s-lake"
  artifacts_bucket_arn = "arn:aws:s3:::%(name)s-artifacts"
  kms_key_arn          = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  glue_database_names  = ["silver"]
  source_secret_arns   = { y = "arn:aws:secretsmanager:us-east-1:123456789012:secret:deplat/x/y-AbCdEf" }
  log_group_arn        = "arn:aws:logs:us-east-1:123456789012:log-group:/deplat/x"
  metrics_namespace    = "deplat/x"
}

output "application_id" {
  value = module.emr.application_id
}

output "subnet_id" {
  value = aws_subnet.private.id
}

output "security_group_id" {
  value = aws_security_group.emr.id
}
"""


def test_emr_module_applied_on_moto_with_a_vpc(local_stack, tmp_path):
    name = f"deplat-vpc-{uuid.uuid4().hex[:6]}"
    work = tmp_path / "vpc"
    work.mkdir()
    (work / "main.tf").write_text(VPC_ROOT % {"moto": MOTO, "name": name,
                                              "module": ROOT / "terraform" / "modules" / "emr_serverless"})
    tf = _terraform(work, tmp_path)
    tf.init()
    tf.plan(work / "plan")
    tf.apply(work / "plan")
    try:
        out = tf.output()
        emr = boto3.client("emr-serverless", endpoint_url=MOTO, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        network = emr.get_application(applicationId=out["application_id"])["application"]["networkConfiguration"]
        assert network == {"subnetIds": [out["subnet_id"]], "securityGroupIds": [out["security_group_id"]]}
        assert json.loads(tf.run("show", "-json").stdout)["values"]  # state holds what was applied
    finally:
        tf.run("destroy", "-auto-approve", "-input=false", "-json", check=False)
