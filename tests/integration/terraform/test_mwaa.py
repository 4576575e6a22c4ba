"""terraform/mwaa.tf, by what Terraform plans: off by default; when on, the environment reads the DAGs and
requirements from the artifacts bucket's airflow/ prefix, private web server, the OpenLineage provider's
settings; only Airflow's services may assume its role; it refuses to plan without two subnets.

The execution role's policy is not checked here: it names the EMR application's ARN, which a plan
against an empty state only knows after apply (the whole policy JSON is then unknown)."""

from __future__ import annotations

import json

import pytest

from tests.integration.terraform.test_variables import _plan, _plan_error, _planned, platform  # noqa: F401 - the staged root fixture

pytestmark = [pytest.mark.integration, pytest.mark.terraform]
ENV = "aws_mwaa_environment.platform[0]"
ROLE = "aws_iam_role.mwaa[0]"
ON = {"mwaa_enabled": "true", "mwaa_subnet_ids": '["subnet-a", "subnet-b"]',
      "mwaa_security_group_ids": '["sg-1"]', "openlineage_url": "https://marquez.example.internal"}


def test_mwaa_is_off_by_default_and_reads_the_rendered_dag_when_on(platform):  # noqa: F811
    off = _plan(platform, "dev", [ENV, ROLE])
    assert _planned(off, ENV) is None and _planned(off, ROLE) is None
    on = _plan(platform, "dev", [ENV, ROLE], **ON)
    env = _planned(on, ENV)
    assert (env["dag_s3_path"], env["requirements_s3_path"]) == ("airflow/dags", "airflow/requirements.txt")
    assert env["webserver_access_mode"] == "PRIVATE_ONLY" and env["name"] == "deplat-dev-airflow"
    options = env["airflow_configuration_options"]
    assert options["openlineage.namespace"] == "deplat-dev"
    assert json.loads(options["openlineage.transport"])["url"] == "https://marquez.example.internal"
    trust = json.loads(_planned(on, ROLE)["assume_role_policy"])["Statement"]
    assert [s["Principal"]["Service"] for s in trust] == [["airflow.amazonaws.com", "airflow-env.amazonaws.com"]]


def test_mwaa_on_needs_two_subnets(platform):  # noqa: F811
    assert "two private subnets" in _plan_error(platform, "dev", ENV, mwaa_enabled="true")
