"""Salesforce deletions past getDeleted's reach, through the local stand-in into silver: the first
run after a long gap reconciles IDs (SELECT Id, paged) and removes what the source no longer has."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import table_path
from deplat_job.sources import salesforce as source

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture
def org_sf(salesforce_stand_in):
    return salesforce_stand_in(seed=9)


def test_a_record_purged_40_days_ago_is_removed_from_silver_by_id_reconciliation(spark, tmp_path, org_sf):
    org, sf = org_sf
    account, lake = sfp.spec("Account"), str(tmp_path / "lake")
    describe = source.describe_fields(sf, "Account")

    def run(batch):
        return sfp.ingest_increment(
            spark, lake, account, lambda since: source.fetch_changes(sf, "Account", account.fields, since), batch,
            fetch_deleted=lambda s, e: source.fetch_deleted(sf, "Account", s, e),
            fetch_ids=lambda: source.fetch_ids(sf, "Account"))

    assert run("r1").deletes_from == ""  # first load: nothing to delete yet
    ids = sorted(org.records["Account"])
    purged, binned = ids[0], ids[1]
    sf.Account.delete(purged)
    org.purge("Account", purged)
    long_ago = datetime.now(timezone.utc) - timedelta(days=40)
    org.delete_log["Account"] = [(purged, long_ago)]  # deleted and purged 40 days ago
    sf.Account.delete(binned)  # in the recycle bin: queryAll shows it deleted, the ID list leaves it out
    # The last deletion lookup was 45 days ago: past getDeleted's reach (15 days; 30 days is refused).
    sfp.write_deletes_covered(spark, lake, "Account", long_ago - timedelta(days=5), "r0")

    second = run("r2")
    assert (second.deletes_from, second.reconciled) == ("id_reconciliation", 1)
    # binned's deletion version (queryAll) + purged's (reconciled); the lookback re-read one held version
    assert (second.written, second.skipped, second.read) == (2, 1, 3)

    bronze = spark.read.format("delta").load(table_path(lake, "bronze", account.bronze_table))
    result = sfp.to_silver(bronze, account, describe)
    got = {r["account_id"] for r in result.current.collect()}
    assert got == set(ids[2:]) and purged not in got
    fates = {r["_fate"]: r["count"] for r in result.classified.groupBy("_fate").count().collect()}
    assert fates[sfp.DELETED] == 2

    third = run("r3")  # the lookup is caught up: getDeleted again, nothing new
    assert (third.deletes_from, third.reconciled, third.written) == ("getDeleted", 0, 0)
