"""getDeleted's reach and the ID list behind ID reconciliation, over API-shaped HTTP: responses
scripted as Salesforce sends them (`responses`), and the local stand-in, which must answer the same.

Facts (REST "sObject Get Deleted"): results for no more than 15 days back; a start further back is
refused with HTTP 400 [{"errorCode": "INVALID_REPLICATION_DATE", ...}]; earliestDateAvailable is the
date of the last physically deleted (purged) log entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import responses
from simple_salesforce import Salesforce

from deplat_job.sources import salesforce as source

INSTANCE = "https://deplat-test.my.salesforce.com"
NOW = datetime.now(timezone.utc)


def _sf() -> Salesforce:
    return Salesforce(instance_url=INSTANCE, session_id="00Dtest!token", version="59.0")


@responses.activate
def test_invalid_replication_date_is_a_delete_log_gap_not_a_failure():
    responses.get(f"{INSTANCE}/services/data/v59.0/sobjects/Account/deleted/", status=400, json=[
        {"message": "startDate cannot be more than 30 days ago", "errorCode": "INVALID_REPLICATION_DATE"}])
    with pytest.raises(source.DeleteLogUnavailableError, match="INVALID_REPLICATION_DATE"):
        source.fetch_deleted(_sf(), "Account", NOW - timedelta(days=31), NOW)


@responses.activate
def test_a_delete_log_purged_after_the_window_start_cannot_answer():
    body = {"deletedRecords": [{"id": "001000000000001AAA", "deletedDate": "2026-11-20T10:00:00.000+0000"}],
            "earliestDateAvailable": "2026-11-10T00:00:00.000+0000",
            "latestDateCovered": "2026-11-29T10:00:00.000+0000"}
    responses.get(f"{INSTANCE}/services/data/v59.0/sobjects/Account/deleted/", json=body)
    start = datetime(2026, 11, 5, tzinfo=timezone.utc)  # before earliestDateAvailable: entries may be gone
    with pytest.raises(source.DeleteLogUnavailableError, match="delete log starts at"):
        source.fetch_deleted(_sf(), "Account", start, datetime(2026, 11, 29, 10, tzinfo=timezone.utc))
    later = source.fetch_deleted(_sf(), "Account", datetime(2026, 11, 15, tzinfo=timezone.utc),
                                 datetime(2026, 11, 29, 10, tzinfo=timezone.utc))
    assert later == [{"Id": "001000000000001AAA", "SystemModstamp": "2026-11-20T10:00:00.000+0000",
                      "IsDeleted": True}]


@responses.activate
def test_other_bad_requests_still_fail():
    responses.get(f"{INSTANCE}/services/data/v59.0/sobjects/Account/deleted/", status=400,
                  json=[{"message": "sObject type 'Acount' is not supported.", "errorCode": "INVALID_TYPE"}])
    with pytest.raises(Exception, match="INVALID_TYPE") as info:
        source.fetch_deleted(_sf(), "Account", NOW - timedelta(hours=1), NOW)
    assert not isinstance(info.value, source.DeleteLogUnavailableError)


@responses.activate
def test_fetch_ids_pages_through_next_records_url_with_query_not_query_all():
    page = f"{INSTANCE}/services/data/v59.0/query/01gXX-2000"
    responses.get(f"{INSTANCE}/services/data/v59.0/query/", json={
        "totalSize": 3, "done": False, "nextRecordsUrl": "/services/data/v59.0/query/01gXX-2000",
        "records": [{"attributes": {"type": "Account"}, "Id": "001A"}, {"attributes": {"type": "Account"},
                                                                        "Id": "001B"}]})
    responses.get(page, json={"totalSize": 3, "done": True,
                              "records": [{"attributes": {"type": "Account"}, "Id": "001C"}]})
    assert list(source.fetch_ids(_sf(), "Account")) == ["001A", "001B", "001C"]
    assert responses.calls[0].request.params == {"q": "SELECT Id FROM Account"}


@pytest.fixture
def stand_in(salesforce_stand_in):
    return salesforce_stand_in(seed=3)


def test_the_stand_in_answers_get_deleted_as_salesforce_does(stand_in):
    org, sf = stand_in
    ids = sorted(org.records["Account"])
    sf.Account.delete(ids[0])
    sf.Account.delete(ids[1])
    old = datetime.now(timezone.utc) - timedelta(days=16)
    org.delete_log["Account"][1] = (ids[1], old)  # deleted 16 days ago: out of the delete log now
    with pytest.raises(source.DeleteLogUnavailableError, match="INVALID_REPLICATION_DATE"):
        source.fetch_deleted(sf, "Account", datetime.now(timezone.utc) - timedelta(days=31), datetime.now(timezone.utc))
    with pytest.raises(source.DeleteLogUnavailableError, match="delete log starts at"):
        source.fetch_deleted(sf, "Account", old - timedelta(days=1), datetime.now(timezone.utc))
    recent = source.fetch_deleted(sf, "Account", datetime.now(timezone.utc) - timedelta(hours=1),
                                  datetime.now(timezone.utc) + timedelta(minutes=2))
    assert [r["Id"] for r in recent] == [ids[0]]
    # query (not queryAll) leaves out the recycle bin; 10 live Ids over pages of 5
    assert sorted(source.fetch_ids(sf, "Account")) == ids[2:]
