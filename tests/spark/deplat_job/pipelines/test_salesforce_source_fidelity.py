"""Salesforce source fidelity: the shared case sf-currency-float with its right answer (numbers exact
end to end, decimals sized by describe), more inputs of that kind, and the lookback default."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from deplat_job.pipelines import salesforce as sfp
from deplat_job.sources.salesforce import parse_json

CASE = Path(__file__).parents[3] / "data" / "cases" / "sf-currency-float" / "query_response.json"
ACCOUNT = sfp.spec("Account")
OPPORTUNITY = sfp.spec("Opportunity")
# As describe reports them on a real org: Account.AnnualRevenue is Currency(18, 0).
DESCRIBE = {"AnnualRevenue": {"type": "currency", "precision": 18, "scale": 0},
            "Amount": {"type": "currency", "precision": 16, "scale": 2},
            "Probability": {"type": "percent", "precision": 3, "scale": 0}}


def _records(text: str):
    return [{k: v for k, v in r.items() if k != "attributes"} for r in parse_json(text)["records"]]


def test_case_response_parses_without_a_binary_float():
    text = CASE.read_text()
    assert json.loads(text)["records"][1]["AnnualRevenue"] == 9007199254740992.0  # what a float makes of it
    revenues = [r["AnnualRevenue"] for r in _records(text)]
    assert [sfp._raw(v) for v in revenues] == ["99213206", "9007199254740993", "12345678901234567"]
    with pytest.raises(TypeError, match="binary float"):
        sfp._raw(9007199254740992.0)


def test_decimal_sizes_come_from_describe():
    sized = {c.source: c.type for c in sfp.sized_columns(OPPORTUNITY, DESCRIBE)}
    assert (sized["Amount"], sized["Probability"]) == ("decimal(16,2)", "decimal(3,0)")
    with pytest.raises(ValueError, match="precision"):
        sfp.sized_columns(ACCOUNT, {"AnnualRevenue": {"precision": 0, "scale": 0}})


def test_case_currency_values_are_exact_in_silver(spark):
    bronze = sfp.records_to_bronze(spark, ACCOUNT, _records(CASE.read_text()), "b1").frame
    result = sfp.to_silver(bronze, ACCOUNT, DESCRIBE)
    got = {r["account_id"]: r["annual_revenue"] for r in result.current.collect()}
    assert got == {"001FAKE0000000011AAA": Decimal("99213206"),
                   "001FAKE0000000012AAA": Decimal("9007199254740993"),
                   "001FAKE0000000013AAA": Decimal("12345678901234567")}
    assert dict(result.current.dtypes)["annual_revenue"] == "decimal(18,0)"
    assert result.rejected.count() == 0


def test_a_value_beyond_the_declared_scale_is_rejected_not_rounded(spark):
    # Own input: 1234.565 in a Currency(16, 2) field would silently round to 1234.57 under a cast.
    opp = {"Id": "006X", "AccountId": "001X", "Name": "o", "StageName": "Prospecting",
           "Amount": Decimal("1234.565"), "Probability": Decimal("10"), "CloseDate": "2024-05-01",
           "IsClosed": False, "IsWon": False, "CreatedDate": "2024-03-01T00:00:00.000+0000",
           "LastModifiedDate": "2024-03-01T00:00:00.000+0000", "SystemModstamp": "2024-03-01T00:00:00.000+0000",
           "IsDeleted": False}
    ok = {**opp, "Id": "006Y", "Amount": Decimal("1.2345678901234E+13")}
    bronze = sfp.records_to_bronze(spark, OPPORTUNITY, [opp, ok], "b1").frame
    result = sfp.to_silver(bronze, OPPORTUNITY, DESCRIBE)
    assert {r["opportunity_id"]: r["amount"] for r in result.current.collect()} == {
        "006Y": Decimal("12345678901234.00")}
    [bad] = result.rejected.collect()
    assert bad["Id"] == "006X" and "1234.565" in bad["_error_reason"]


def test_a_record_committed_late_within_the_default_lookback_is_read(spark, tmp_path):
    t0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
    org = [{"Id": "001A", "Name": "a", "AnnualRevenue": Decimal("1"), "SystemModstamp": sfp.format_sf_datetime(t0),
            "CreatedDate": sfp.format_sf_datetime(t0), "IsDeleted": False}]

    def fetch(since):  # SOQL's `SystemModstamp > since`, with the seconds truncated as the API does
        floor = since.replace(second=0, microsecond=0) if since else None
        return [r for r in org if floor is None or sfp.parse_sf_datetime(r["SystemModstamp"]) > floor]

    sfp.ingest_increment(spark, str(tmp_path), ACCOUNT, fetch, "b1")
    # A transaction that started 5.5 minutes before the watermark commits only now.
    late = t0 - timedelta(minutes=5, seconds=30)
    org.append({**org[0], "Id": "001B", "SystemModstamp": sfp.format_sf_datetime(late)})
    second = sfp.ingest_increment(spark, str(tmp_path), ACCOUNT, fetch, "b2")
    assert (second.read, second.written) == (2, 1) and sfp.DEFAULT_LOOKBACK_SECONDS >= 330
