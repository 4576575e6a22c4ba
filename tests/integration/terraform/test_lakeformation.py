"""terraform/lakeformation.tf and the platform's trust and secret boundaries, by what `terraform plan`
does with a cloud tfvars (dev, prod): Lake Formation governs the lake, service roles can only be
assumed on behalf of this account, and each source's secret is readable by that source's role only.

Where a value is known only after apply (ARNs), the plan's configuration says what it is built from;
tests/integration/deplat/test_infra.py reads the applied result back from moto.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.terraform.test_variables import _plan, _planned, platform  # noqa: F401 - the staged root fixture

pytestmark = [pytest.mark.integration, pytest.mark.terraform]

SETTINGS = "aws_lakeformation_data_lake_settings.this"
LOCATION = "aws_lakeformation_resource.lake"
DATA_LOCATION = "aws_lakeformation_permissions.job_data_location"
SOURCES = ("kafka", "rds", "salesforce", "snowflake")
LF_TARGETS = [SETTINGS, LOCATION, DATA_LOCATION, "aws_lakeformation_permissions.job_database",
              "aws_lakeformation_permissions.job_tables", "aws_glue_catalog_database.layer"]


def _resource_config(plan: dict, address: str, module: str | None = None) -> dict:
    root = plan["configuration"]["root_module"]
    if module:
        root = root["module_calls"][module]["module"]
    return next(r for r in root["resources"] if r["address"] == address)


def _prior(plan: dict, address: str) -> dict:
    """A data source read during plan (its values are known)."""
    resources = plan["prior_state"]["values"]["root_module"]["resources"]
    return next(r for r in resources if r["address"] == address)["values"]


def _conditions(statement: dict) -> dict[str, str]:
    """variable -> test of a policy statement's conditions (rendered JSON)."""
    return {var: test for test, pairs in statement.get("Condition", {}).items() for var in pairs}


@pytest.fixture(scope="module")
def dev(platform):  # noqa: F811
    return _plan(platform, "dev", [*LF_TARGETS, "module.emr.aws_iam_role_policy.source_secret",
                                   "module.emr.aws_iam_role_policy.job", "aws_iam_role.scheduler",
                                   "aws_kms_key.platform"])


def test_lake_formation_settings_admins_and_no_iam_allowed_principals_defaults(dev, platform):  # noqa: F811
    settings = _planned(dev, SETTINGS)
    caller = _prior(dev, "data.aws_iam_session_context.caller")["issuer_arn"]
    assert settings["admins"] == [caller]
    # No default-permission blocks in the configuration: the provider then omits both lists from
    # PutDataLakeSettings, which AWS reads as empty (read back from moto in test_infra), so new
    # databases and tables grant nothing to IAM_ALLOWED_PRINCIPALS.
    expressions = _resource_config(dev, SETTINGS)["expressions"]
    assert "create_database_default_permissions" not in expressions
    assert "create_table_default_permissions" not in expressions
    # The layer databases are created under those settings.
    assert SETTINGS in _resource_config(dev, "aws_glue_catalog_database.layer")["depends_on"]
    extra = "arn:aws:iam::123456789012:role/platform-admins"
    more = _planned(_plan(platform, "prod", [SETTINGS], lf_admins=json.dumps([extra])), SETTINGS)
    assert sorted(more["admins"]) == sorted([caller, extra])  # a set: the provider sorts it


def test_lf_admins_must_be_iam_arns(platform):  # noqa: F811
    from tests.integration.terraform.test_variables import _plan_error

    assert "lf_admins must be IAM role or user ARNs" in _plan_error(
        platform, "dev", SETTINGS, lf_admins='["arn:aws:sts::123456789012:assumed-role/Admin/me"]')


def test_the_lake_bucket_is_registered_through_its_own_role(dev):
    assert _planned(dev, LOCATION) is not None
    location = _resource_config(dev, LOCATION)["expressions"]
    assert "module.lake_bucket.arn" in location["arn"]["references"]
    assert "aws_iam_role.lf_location.arn" in location["role_arn"]["references"]
    trust = json.loads(_prior(dev, "data.aws_iam_policy_document.lf_location_trust")["json"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lakeformation.amazonaws.com"}


def test_the_job_role_keeps_working_under_lake_formation(dev):
    location = _planned(dev, DATA_LOCATION)
    assert location["permissions"] == ["DATA_LOCATION_ACCESS"]
    config = _resource_config(dev, DATA_LOCATION)["expressions"]
    assert "module.emr.job_role_arn" in config["principal"]["references"]
    assert "aws_lakeformation_resource.lake.arn" in config["data_location"][0]["arn"]["references"]
    for layer in ("silver", "gold"):
        db = _planned(dev, f'aws_lakeformation_permissions.job_database["{layer}"]')
        assert db["database"][0]["name"] == f"deplat_dev_{layer}"
        assert {"CREATE_TABLE", "DESCRIBE"} <= set(db["permissions"])
        tables = _planned(dev, f'aws_lakeformation_permissions.job_tables["{layer}"]')
        assert tables["table"] == [{"database_name": f"deplat_dev_{layer}", "wildcard": True}]
        assert {"SELECT", "INSERT", "DELETE", "DESCRIBE"} <= set(tables["permissions"])


def test_service_trust_policies_name_this_account_and_the_calling_resource(dev, platform):  # noqa: F811
    # EMR Serverless runtime roles (job and per-source): the account and this application.
    trust = _resource_config(dev, "data.aws_iam_policy_document.trust", "emr")["expressions"]["statement"][0]
    conditions = {c["variable"]["constant_value"]: c for c in trust["condition"]}
    assert conditions["aws:SourceAccount"]["test"]["constant_value"] == "StringEquals"
    assert conditions["aws:SourceArn"]["test"]["constant_value"] == "ArnLike"
    assert "aws_emrserverless_application.this.arn" in conditions["aws:SourceArn"]["values"]["references"]
    # EventBridge Scheduler.
    scheduler = json.loads(_prior(dev, "data.aws_iam_policy_document.scheduler_trust")["json"])["Statement"][0]
    assert scheduler["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert scheduler["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":123456789012:schedule-group/default")
    # CloudWatch Logs' use of the platform key.
    kms = json.loads(_planned(dev, "aws_kms_key.platform")["policy"])
    logs = next(s for s in kms["Statement"] if s["Sid"] == "CloudWatchLogsEncrypt")
    assert _conditions(logs) == {"aws:SourceAccount": "StringEquals", "aws:SourceArn": "ArnLike",
                                 "kms:EncryptionContext:aws:logs:arn": "ArnLike"}
    assert logs["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    # S3 replication (prod) and the DMS target role (when enabled).
    prod = _plan(platform, "prod", ["aws_iam_role.replication[0]"])
    replication = _resource_config(prod, "data.aws_iam_policy_document.replication_trust")
    variables = {c["variable"]["constant_value"] for c in replication["expressions"]["statement"][0]["condition"]}
    assert variables == {"aws:SourceAccount", "aws:SourceArn"}
    dms = _plan(platform, "dev", ["aws_iam_role.dms_s3[0]"], dms_enabled="true")
    statement = json.loads(_planned(dms, "aws_iam_role.dms_s3[0]")["assume_role_policy"])["Statement"][0]
    assert _conditions(statement) == {"aws:SourceAccount": "StringEquals", "aws:SourceArn": "ArnLike"}


def test_each_source_secret_is_read_by_its_own_role_only(dev):
    roles = sorted(rc["index"] for rc in dev["resource_changes"]
                   if rc["address"].startswith("module.emr.aws_iam_role.source["))
    assert roles == list(SOURCES)
    policy = _resource_config(dev, "aws_iam_role_policy.source_secret", "emr")["expressions"]["policy"]
    assert "each.value" in policy["references"]  # one secret: the map entry of this source
    for source in SOURCES:
        assert _planned(dev, f'module.emr.aws_iam_role_policy.source_secret["{source}"]') is not None
    # The job role (every step that reads no source) may read no secret.
    job = _resource_config(dev, "data.aws_iam_policy_document.job", "emr")["expressions"]["statement"]
    actions = [a for s in job for a in s["actions"]["constant_value"]]
    assert actions and not any(a.startswith("secretsmanager:") for a in actions)
    emr_call = dev["configuration"]["root_module"]["module_calls"]["emr"]["expressions"]
    assert "aws_secretsmanager_secret.source" in emr_call["source_secret_arns"]["references"]
