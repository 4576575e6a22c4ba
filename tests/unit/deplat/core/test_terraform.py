"""The terraform wrapper: plan summaries, error mapping, argv and environment. No AWS, no JVM.

The samples under tests/unit/data/terraform/ were recorded from Terraform 1.11.4 + hashicorp/aws 5.100 against
moto (`show -json` of a plan and a destroy plan, trimmed to the fields deplat reads; `plan -json`
lines of a failed variable validation; the stderr of a failed `state rm`).
"""

import json
import re
from pathlib import Path

import pytest

from deplat.core.terraform import (
    Terraform,
    cli_config,
    diagnostics,
    find_mirror,
    infra_error,
    parse_json_lines,
    summarize_plan,
    terraform_bin,
)
from deplat.infra import MOTO_SERVICES, local_backend, local_override
from deplat_job.errors import ExitCode, InfraError

DATA = Path(__file__).parents[2] / "data" / "terraform"
ROOT = Path(__file__).resolve().parents[4]


def load(name):
    return json.loads((DATA / name).read_text())


# -- plan summaries ---------------------------------------------------------------------------


def test_plan_summary_counts_like_terraform():
    summary = summarize_plan(load("show_plan.json"))
    # db["c"] created, topic replaced (add+destroy), db["b"] deleted, role updated, secret imported+updated.
    assert summary.counts == {"add": 2, "change": 2, "destroy": 2, "imported": 1}
    assert summary.has_changes
    assert summary.output_changes == ["topic"]


def test_plan_summary_per_resource_type():
    by_type = summarize_plan(load("show_plan.json")).by_type()
    assert by_type == {
        "aws_glue_catalog_database": {"add": 1, "change": 0, "destroy": 1, "imported": 0},
        "aws_iam_role": {"add": 0, "change": 1, "destroy": 0, "imported": 0},
        "aws_secretsmanager_secret": {"add": 0, "change": 1, "destroy": 0, "imported": 1},
        "aws_sns_topic": {"add": 1, "change": 0, "destroy": 1, "imported": 0},
    }
    assert "aws_kms_key" not in by_type  # no-op resources are not listed


def test_plan_summary_actions_and_json_shape():
    summary = summarize_plan(load("show_plan.json"))
    actions = {c.address: c.action for c in summary.changes}
    assert actions['aws_sns_topic.t'] == "replace"
    assert actions['aws_glue_catalog_database.db["b"]'] == "delete"
    assert actions['aws_kms_key.k'] == "no-op"
    data = summary.to_dict()
    assert data["changes"] is True and data["add"] == 2
    assert {r["address"] for r in data["resources"]} == {
        'aws_glue_catalog_database.db["b"]', 'aws_glue_catalog_database.db["c"]', "aws_iam_role.r",
        "aws_secretsmanager_secret.s[0]", "aws_sns_topic.t"}
    json.dumps(data)  # serialisable for -o json


def test_destroy_plan_lists_what_goes_including_kms_keys():
    summary = summarize_plan(load("show_destroy_plan.json"), destroy=True)
    assert summary.destroy and summary.counts["destroy"] == 5
    assert summary.removes("aws_kms_key") == ["aws_kms_key.k"]


def test_empty_plan_has_no_changes():
    summary = summarize_plan({"resource_changes": [
        {"address": "aws_s3_bucket.b", "mode": "managed", "type": "aws_s3_bucket",
         "change": {"actions": ["no-op"]}},
        {"address": "data.aws_region.r", "mode": "data", "type": "aws_region",
         "change": {"actions": ["read"]}},
    ]})
    assert not summary.has_changes
    assert summary.by_type() == {}


# -- errors -----------------------------------------------------------------------------------


def test_json_diagnostics_become_infra_error_with_terraforms_message():
    messages = parse_json_lines((DATA / "plan_invalid_variable.jsonl").read_text())
    err = infra_error("plan", 1, messages, "")
    assert isinstance(err, InfraError) and err.exit_code == ExitCode.INFRA == 3
    assert err.message == ("terraform plan failed: Invalid value for variable: "
                           "The environment must be one of: local, dev, prod.")
    assert "on main.tf:23" in err.detail
    assert "config/deplat.yaml" in err.hint


def test_text_stderr_becomes_infra_error():
    stderr = (DATA / "state_rm_error.txt").read_text()
    err = infra_error("state rm", 1, [], stderr)
    assert err.message == "terraform state rm failed: Invalid target address"
    assert "No matching objects found" in err.detail


def test_validate_report_diagnostics_are_read():
    report = {"valid": False, "error_count": 1, "diagnostics": [
        {"severity": "error", "summary": "Unsupported argument",
         "detail": 'An argument named "bogus" is not expected here.',
         "range": {"filename": "main.tf", "start": {"line": 4}}}]}
    (diag,) = diagnostics([report])
    assert diag.location == "main.tf:4" and "bogus" in str(diag)


def test_hints_for_known_failures():
    refused = "Error: dial tcp 127.0.0.1:5050: connect: connection refused"
    assert "deplat local up" in infra_error("plan", 1, [], refused).hint
    assert "deplat infra init" in infra_error("plan", 1, [], "Error: Backend initialization required").hint


def test_parse_json_lines_skips_non_json():
    assert parse_json_lines('{"a": 1}\nnot json\n{broken\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]


# -- argv and environment ----------------------------------------------------------------------


def test_argv_uses_chdir_and_splits_subcommands(tmp_path):
    tf = Terraform(tmp_path / "work", tmp_path / "rc", binary="/usr/bin/terraform")
    assert tf.argv("plan", "-json", "-out=p") == [
        "/usr/bin/terraform", f"-chdir={tmp_path / 'work'}", "plan", "-json", "-out=p"]
    assert tf.argv("state rm", "aws_kms_key.platform")[2:] == ["state", "rm", "aws_kms_key.platform"]


def test_missing_binary_is_an_infra_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLAT_TERRAFORM", "no-such-terraform-binary")
    with pytest.raises(InfraError, match="not installed"):
        Terraform(tmp_path, tmp_path / "rc").argv("version")


def test_environ_overrides_cli_config_and_isolates_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/root/.terraformrc")  # what the image exports (missing)
    monkeypatch.setenv("TF_DATA_DIR", "/somewhere/shared")
    monkeypatch.setenv("TF_WORKSPACE", "other")
    tf = Terraform(tmp_path / "work", tmp_path / "rc", env={"AWS_ACCESS_KEY_ID": "testing"},
                   binary="terraform")
    env = tf.environ()
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / "rc")
    assert env["TF_DATA_DIR"] == str(tmp_path / "work" / ".terraform")
    assert "TF_WORKSPACE" not in env
    assert env["CHECKPOINT_DISABLE"] == "1" and env["TF_INPUT"] == "0"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"


def test_cli_config_installs_hashicorp_providers_from_the_mirror(tmp_path):
    text = cli_config(Path("/opt/tf-plugins"))
    assert 'path    = "/opt/tf-plugins"' in text
    assert re.search(r'filesystem_mirror \{[^}]*include = \["registry.terraform.io/hashicorp/\*"\]', text)
    assert re.search(r'direct \{[^}]*exclude = \["registry.terraform.io/hashicorp/\*"\]', text)
    assert "provider_installation" not in cli_config(None)


def test_real_terraform_reads_our_cli_config_not_the_missing_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/root/.terraformrc-does-not-exist")
    rc = tmp_path / "terraformrc"
    rc.write_text(cli_config(find_mirror()))
    assert terraform_bin(), "terraform must be installed (see README)"
    result = Terraform(tmp_path, rc).run("version", "-json")
    assert json.loads(result.stdout)["terraform_version"].startswith("1.")
    assert "Unable to open CLI configuration file" not in result.stderr


# -- the local environment's overrides ---------------------------------------------------------


def test_local_override_routes_both_providers_to_moto():
    text = local_override("http://127.0.0.1:5050")
    assert text.count('provider "aws"') == 2 and 'alias = "replica"' in text
    for svc in MOTO_SERVICES:
        assert re.search(rf'\b{svc}\s+= "http://127.0.0.1:5050"', text), svc
    assert "s3_use_path_style           = true" in text
    assert "skip_credentials_validation = true" in text


def test_local_backend_keeps_state_in_the_given_file(tmp_path):
    assert f'path = "{tmp_path}/terraform.tfstate"' in local_backend(tmp_path / "terraform.tfstate")


# Resource type prefix -> the provider's endpoint name (the local override must cover each).
_SERVICE_OF_PREFIX = {
    "aws_s3_": "s3", "aws_kms_": "kms", "aws_iam_": "iam", "aws_glue_": "glue", "aws_athena_": "athena",
    "aws_emrserverless_": "emrserverless", "aws_secretsmanager_": "secretsmanager", "aws_sns_": "sns",
    "aws_cloudwatch_log_": "logs", "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_cloudwatch_dashboard": "cloudwatch", "aws_scheduler_": "scheduler",
    "aws_lakeformation_": "lakeformation", "aws_dms_": "dms",
    "aws_caller_identity": "sts",
}
_NO_API = {"aws_iam_policy_document", "aws_partition", "aws_region"}
# Resource types moto has no API for: each must be off by default and refused for the local env by a
# variable validation, so a local apply never calls AWS's real endpoint for them.
_CLOUD_ONLY = {"aws_mwaa_environment": "mwaa_enabled"}


def test_every_aws_service_the_terraform_uses_goes_to_moto_locally():
    used = set()
    for path in (ROOT / "terraform").rglob("*.tf"):
        used |= set(re.findall(r'^(?:resource|data)\s+"(aws_[a-z0-9_]+)"', path.read_text(), re.M))
    assert used, "no resources found"
    for rtype, switch in _CLOUD_ONLY.items():
        text = "\n".join(p.read_text() for p in (ROOT / "terraform").rglob("*.tf"))
        block = re.search(rf'variable "{switch}" {{.*?\n}}\n', text, re.S).group(0)
        assert "default     = false" in block and 'var.environment != "local"' in block, (rtype, block)
    for rtype in sorted(used - _NO_API - set(_CLOUD_ONLY)):
        service = next((svc for prefix, svc in _SERVICE_OF_PREFIX.items() if rtype.startswith(prefix)), None)
        assert service is not None, f"{rtype}: add its service to MOTO_SERVICES and this table"
        assert service in MOTO_SERVICES, f"{rtype} calls {service}, which the local override does not route"


# -- committed configuration ------------------------------------------------------------------


def test_dashboards_are_json_with_known_placeholders_only():
    known = {"region", "environment", "emr_application_id", "metrics_namespace", "log_group_name"}
    dashboards = sorted((ROOT / "terraform" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        text = path.read_text()
        assert json.loads(text)["widgets"], path.name
        assert set(re.findall(r"\$\{(\w+)\}", text)) <= known, path.name


# What the tfvars and variables *do* (TLS policy, prod's retention and replication, the EMR VPC) is
# tested with Terraform itself: tests/integration/terraform/test_variables.py.
