"""Salesforce through the local stand-in: purged deletions found with getDeleted, decimals sized
from the describe call, end to end into silver."""

from __future__ import annotations

import pytest

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import table_path
from deplat_job.sources import salesforce as source

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture
def org_sf(salesforce_stand_in):
    return salesforce_stand_in(seed=5)


def _silver_ids(spark, lake, account, describe):
    bronze = spark.read.format("delta").load(table_path(lake, "bronze", account.bronze_table))
    result = sfp.to_silver(bronze, account, describe)
    return {r["account_id"] for r in result.current.collect()}, result


def test_purged_deletion_is_removed_from_silver_via_get_deleted(spark, tmp_path, org_sf):
    org, sf = org_sf
    account = sfp.spec("Account")
    describe = source.describe_fields(sf, "Account")
    assert describe["AnnualRevenue"]["precision"] == 18 and describe["AnnualRevenue"]["scale"] == 0

    def run(lake, batch, with_deleted=True):
        return sfp.ingest_increment(
            spark, lake, account, lambda since: source.fetch_changes(sf, "Account", account.fields, since),
            batch, fetch_deleted=(lambda s, e: source.fetch_deleted(sf, "Account", s, e)) if with_deleted else None)

    lake, blind = str(tmp_path / "lake"), str(tmp_path / "blind")
    run(lake, "r1")
    run(blind, "r1", with_deleted=False)
    ids = sorted(org.records["Account"])
    sf.Account.delete(ids[0])
    org.purge("Account", ids[0])  # the recycle bin is emptied before the next run: queryAll misses it
    second = run(lake, "r2")
    assert second.deletions == 1
    run(blind, "r2", with_deleted=False)

    live = {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}
    got, result = _silver_ids(spark, lake, account, describe)
    assert got == live and ids[0] not in got and result.rejected.count() == 0
    assert dict(result.current.dtypes)["annual_revenue"] == "decimal(18,0)"
    assert ids[0] in _silver_ids(spark, blind, account, describe)[0]  # queryAll alone keeps the ghost
