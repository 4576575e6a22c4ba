"""Salesforce records that become visible later than the lookback (a long transaction, a sharing
recalculation): the regular window cannot see them, the daily late-row check catches, loads and
counts them, and `deplat checklist daily` names them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from deplat.pipelines import salesforce as sfp
from deplat.pipelines.common import table_path
from deplat.sources import salesforce as source

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
    second = run("r2")  # the first late-row check runs here: nothing missed so far
    watermark = second.watermark_after
    # Committed now, stamped 600 s before the watermark: 240 s past the default 360 s lookback.
    late_id = org.create_late("Account", {"Name": "committed late"}, began_at=watermark - timedelta(seconds=600))

    third = run("r3")  # a regular run: the record is not in its window, and no check is due
    assert third.written == 0 and late_id not in _bronze_ids(spark, lake)

    later = datetime.now(timezone.utc) + timedelta(hours=25)  # the next daily check is due
    fourth = run("r4", now=later)
    assert late_id in _bronze_ids(spark, lake)
    assert second.late_check_from is not None and second.late == 0
    assert third.late_check_from is None
    assert (fourth.late, fourth.late_ids, fourth.late_behind_seconds) == (1, (late_id,), 600)
    assert fourth.written == 1 and fourth.read == fourth.written + fourth.rejected + fourth.skipped

    from deplat.checklist import late_rows

    item = late_rows(Path(lake), later)
    assert item.status == "attention"
    assert item.detail == f"Account=1 (up to 600 s behind the watermark; Ids {late_id})"
    assert run("r5", now=later + timedelta(hours=25)).late == 0  # counted once: bronze holds it now
