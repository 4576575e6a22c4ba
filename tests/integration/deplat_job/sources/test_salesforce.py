"""The real simple-salesforce client against the local REST stand-in, and the incremental load on it.

Most tests run a private stand-in (fresh seed, small pages) so record changes cannot leak between
tests; one goes through the stack's service with the connection read from moto's Secrets Manager.
"""

from datetime import timedelta

import pytest

from deplat.local.standins.salesforce_server import LOCAL_CREDENTIALS, Org, parse_datetime, serve_in_thread
from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import table_path
from deplat_job.sources import salesforce as source

pytestmark = pytest.mark.integration
FIELDS = ["Id", "Name", "AnnualRevenue", "SystemModstamp", "IsDeleted"]


@pytest.fixture
def org():
    org = Org(seed=3, accounts=45, opportunities=60, page_size=10)
    server, _ = serve_in_thread(org)
    org.url = server.instance_url
    yield org
    server.shutdown()
    server.server_close()


@pytest.fixture
def sf(org):
    return source.connect(source.SalesforceConfig(login_url=org.url, **LOCAL_CREDENTIALS))


def _ceil_second(text):
    stamp = parse_datetime(text)
    return stamp.replace(microsecond=0) + timedelta(seconds=1)


def test_paging_follows_next_records_url(sf):
    first = sf.query("SELECT Id FROM Account ORDER BY SystemModstamp, Id")
    assert first["totalSize"] == 45 and len(first["records"]) == 10 and not first["done"]
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    records = list(source.fetch_changes(sf, "Account", FIELDS))
    assert len(records) == 45 and len({r["Id"] for r in records}) == 45
    stamps = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert stamps == sorted(stamps)


def test_incremental_read_returns_only_changed_rows_and_deletes(sf):
    everything = list(source.fetch_changes(sf, "Account", FIELDS))
    since = _ceil_second(max(r["SystemModstamp"] for r in everything))
    assert list(source.fetch_changes(sf, "Account", FIELDS, since)) == []

    ids = [r["Id"] for r in everything]
    sf.Account.update(ids[0], {"Name": "Renamed"})
    sf.Account.delete(ids[1])
    created = sf.Account.create({"Name": "Brand new", "AnnualRevenue": 12.5})["id"]

    changed = {r["Id"]: r for r in source.fetch_changes(sf, "Account", FIELDS, since)}
    assert set(changed) == {ids[0], ids[1], created}
    assert changed[ids[0]]["Name"] == "Renamed" and changed[ids[1]]["IsDeleted"] is True
    # The deleted record is only visible to queryAll, as in Salesforce's recycle bin.
    visible = {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}
    assert ids[1] not in visible and created in visible
    with_deleted = sf.query_all("SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True)
    assert [r["Id"] for r in with_deleted["records"]] == [ids[1]]


def test_bad_credentials_and_bad_soql_are_reported(org, sf):
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    from deplat_job.errors import ConfigError

    with pytest.raises(ConfigError, match="authentication failure"):
        wrong = {**LOCAL_CREDENTIALS, "password": "wrong"}
        source.connect(source.SalesforceConfig(login_url=org.url, **wrong))
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT NoSuchField FROM Account")
    with pytest.raises(ConfigError, match="refusing"):
        source.connect(source.SalesforceConfig(login_url="http://example.com", **LOCAL_CREDENTIALS))


@pytest.mark.spark
def test_incremental_load_to_bronze_and_silver(spark, tmp_path, sf):
    lake = str(tmp_path)
    account = sfp.spec("Account")

    def fetch(since):
        return source.fetch_changes(sf, account.name, account.fields, since)

    first = sfp.ingest_increment(spark, lake, account, fetch, "r1", lookback_seconds=0)
    assert (first.read, first.written) == (45, 45)
    assert sfp.ingest_increment(spark, lake, account, fetch, "r2", lookback_seconds=0).written == 0

    ids = sorted(r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"])
    sf.Account.update(ids[0], {"Name": "Renamed"})
    sf.Account.delete(ids[1])
    third = sfp.ingest_increment(spark, lake, account, fetch, "r3", lookback_seconds=0)
    assert third.written == 2 and third.watermark_after > first.watermark_after

    bronze = spark.read.format("delta").load(table_path(lake, "bronze", account.bronze_table))
    describe = source.describe_fields(sf, account.name)
    silver = {r["account_id"]: r for r in sfp.to_silver(bronze, account, describe).current.collect()}
    assert bronze.count() == 47 and len(silver) == 44
    assert silver[ids[0]]["name"] == "Renamed" and ids[1] not in silver


def test_stack_service_with_secret_from_moto(local_stack):
    import uuid

    import boto3

    from deplat.local.standins.salesforce_server import put_secret, salesforce_connection
    from deplat_job.sources.secret_store import secret_name

    local_stack.up(["salesforce"])
    settings = local_stack.settings
    client = boto3.client("secretsmanager", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1")
    name = secret_name(f"it-{uuid.uuid4().hex[:8]}", "salesforce")  # fresh: the first put creates it
    value = salesforce_connection(settings)
    assert put_secret(client, name, value) == "created"
    assert put_secret(client, name, value) == "unchanged"
    assert put_secret(client, name, {**value, "api_version": "58.0"}) == "updated"
    assert put_secret(client, name, value) == "updated"
    config = source.read_config(name, client)
    # The secret's own values, not the word "password", must stay out of the repr (logs, tracebacks).
    assert config.password not in repr(config) and config.client_secret not in repr(config)
    sf = source.connect(config)
    assert sf.query("SELECT Id FROM Opportunity")["totalSize"] > 0
