"""Salesforce records that become visible later than the lookback (a long transaction, a sharing
recalculation): the regular window cannot see them, the daily late-row check catches, loads and
counts them, and `deplat checklist daily` names them."""

from __future__ import annotations

import importlib.util
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import parse_metrics, table_path
from deplat_job.sources import salesforce as source

ROOT = Path(__file__).resolve().parents[4]

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def _bronze_ids(spark, lake: str) -> set[str]:
    account = sfp.spec("Account")
    return {r["Id"] for r in spark.read.format("delta").load(table_path(lake, "bronze", account.bronze_table))
            .select("Id").collect()}


def test_a_record_visible_later_than_the_lookback_is_caught_counted_and_reported(
        spark, tmp_path, salesforce_stand_in):
    org, sf = salesforce_stand_in(seed=11, accounts=6)
    account = sfp.spec("Account")
    lake = str(tmp_path / "lake")

    def run(batch, now=None):
        return sfp.ingest_increment(
            spark, lake, account, lambda since: source.fetch_changes(sf, "Account", account.fields, since),
            batch, now=now)

    run("r1")  # first load
    sf.Account.create({"Name": "on time"})
    second = run("r2")  # a regular run: the first load counted as the day's check
    watermark = second.watermark_after
    # Committed now, stamped 600 s before the watermark: 240 s past the default 360 s lookback.
    late_id = org.create_late("Account", {"Name": "committed late"}, began_at=watermark - timedelta(seconds=600))

    third = run("r3")  # a regular run: the record is not in its window, and no check is due
    assert third.written == 0 and late_id not in _bronze_ids(spark, lake)

    later = datetime.now(timezone.utc) + timedelta(hours=25)  # the next daily check is due
    fourth = run("r4", now=later)
    assert late_id in _bronze_ids(spark, lake)
    assert second.late_check_from is None and third.late_check_from is None
    assert fourth.late_check_from is not None
    assert (fourth.late, fourth.late_ids, fourth.late_behind_seconds) == (1, (late_id,), 600)
    assert fourth.written == 1 and fourth.read == fourth.written + fourth.rejected + fourth.skipped

    from deplat.checklist import late_rows

    item = late_rows(Path(lake), later)
    assert item.status == "attention"
    assert item.detail == f"Account=1 (up to 600 s behind the watermark; Ids {late_id})"
    assert run("r5", now=later + timedelta(hours=25)).late == 0  # counted once: bronze holds it now


def _job(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_job_reports_late_rows_in_its_metrics_line(spark, local_stack, tmp_path, monkeypatch, capsys,
                                                       salesforce_stand_in):
    import boto3

    from deplat.local.standins.salesforce_server import LOCAL_CREDENTIALS

    org, sf = salesforce_stand_in(seed=12, accounts=4)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{local_stack.settings.moto_port}")
    secret = f"itest-{uuid.uuid4().hex[:8]}/salesforce"
    boto3.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"login_url": f"http://{sf.sf_instance}", **LOCAL_CREDENTIALS}))
    job = _job("salesforce_to_bronze")
    args = ["--lake", str(tmp_path / "lake"), "--objects", "Account", "--secret-name", secret,
            "--late-check-every-seconds", "0"]
    job.main([*args, "--batch-id", "b1"])
    sf.Account.create({"Name": "on time"})
    job.main([*args, "--batch-id", "b2"])
    watermark = sfp.parse_sf_datetime(parse_metrics(capsys.readouterr().out)[-1]["objects"]["Account"]["watermark"])
    late_id = org.create_late("Account", {"Name": "committed late"}, began_at=watermark - timedelta(seconds=600))
    job.main([*args, "--batch-id", "b3"])
    metrics = parse_metrics(capsys.readouterr().out)[-1]
    account = metrics["objects"]["Account"]
    assert metrics["late_rows"] == 1 and metrics["written"] == 1
    assert (account["late_rows"], account["late_ids"], account["late_behind_seconds"]) == (1, [late_id], 600)
    assert metrics["read"] == metrics["written"] + metrics["rejected"] + metrics["skipped"]
