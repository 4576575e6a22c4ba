"""terraform/dms.tf, by what Terraform does with it: the root validates, the DMS S3 target is off
by default, and when enabled its planned settings are the ones deplat's DMS reader expects."""

from __future__ import annotations

import json

import pytest

from deplat_job.pipelines.source_specs import DMS_TS
from deplat_job.sources.dms import DMS_NULL
from tests.integration.terraform.test_variables import _plan, _planned, platform  # noqa: F401 - the staged root fixture

pytestmark = [pytest.mark.integration, pytest.mark.terraform]
ENDPOINT = "aws_dms_s3_endpoint.lake[0]"


def test_dms_target_is_off_by_default_and_writes_the_reader_format_when_on(platform):  # noqa: F811
    tf, _ = platform
    assert all(w.severity == "warning" for w in tf.validate())
    assert _planned(_plan(platform, "dev", [ENDPOINT]), ENDPOINT) is None
    on = _plan(platform, "dev", [ENDPOINT], dms_enabled="true")
    endpoint = _planned(on, ENDPOINT)
    assert endpoint["bucket_folder"] == "_landing/dms" and endpoint["data_format"] == "csv"
    assert endpoint["add_column_name"] is True and endpoint["include_op_for_full_load"] is True
    assert endpoint["timestamp_column_name"] == DMS_TS and endpoint["csv_null_value"] == DMS_NULL
    assert endpoint["date_partition_enabled"] is False
    task = _plan(platform, "dev", ["aws_dms_replication_task.rds_to_lake[0]"], dms_enabled="true",
                 dms_source_endpoint_arn="arn:aws:dms:us-east-1:123456789012:endpoint:SRC",
                 dms_replication_instance_arn="arn:aws:dms:us-east-1:123456789012:rep:RI")
    mappings = json.loads(_planned(task, "aws_dms_replication_task.rds_to_lake[0]")["table_mappings"])
    [seq] = [r for r in mappings["rules"] if r["rule-type"] == "transformation"]
    assert (seq["value"], seq["expression"]) == ("_dms_seq", "$AR_H_CHANGE_SEQ")
