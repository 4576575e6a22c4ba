"""FX: the ECB file parser, and silver.fx_rates on small DataFrames (dedup, bad rows, base
currency, replaceWhere scope), plus the cross-check against the real packaged ECB history."""

import io
import zipfile
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import pytest

from deplat_job.pipelines.table_schemas import FX_BRONZE_RAW
from deplat_job.sources import fx as ecb

SAMPLE = (
    "Date,USD,JPY,CYP,GBP,\n"
    "2024-01-03,1.0919,155.52,N/A,0.8631,\n"
    "2024-01-02,1.0956,155.14,N/A,0.8670,\n"
    "2024-01-01,oops\n"  # malformed: too few fields
)


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("eurofxref-hist.csv", text)
    return buf.getvalue()


def test_parse_melts_the_wide_file_and_keeps_raw_values():
    history = ecb.parse(_zip(SAMPLE), "test")
    assert len(history.cells) == 8  # 2 dates x 4 currencies; the trailing empty column is ignored
    assert ("2024-01-03", "USD", "1.0919") in history.cells
    assert ("2024-01-02", "CYP", "N/A") in history.cells
    assert history.dates == ["2024-01-02", "2024-01-03"]
    assert [(n, t) for n, _, t in history.bad_lines] == [(4, "2024-01-01,oops")]


def test_parse_accepts_plain_csv_and_rejects_other_files():
    assert len(ecb.parse(SAMPLE.encode()).cells) == 8
    with pytest.raises(ValueError, match="Date"):
        ecb.parse(b"foo,bar\n1,2\n")


def test_the_packaged_history_is_the_ecb_file():
    history = ecb.parse(ecb.fetch(ecb.PACKAGED))
    assert len(history.dates) > 6500 and history.dates[0] == "1999-01-04"
    per_date = Counter(d for d, _, _ in history.cells)
    assert len(set(per_date.values())) == 1  # every line has every currency column
    assert not history.bad_lines


# --- Spark ----------------------------------------------------------------------------------

T1 = datetime(2024, 1, 5, 10, 0, 0)
T2 = datetime(2024, 1, 6, 10, 0, 0)


def _bronze(spark, rows):
    """rows: (date, ccy, raw rate[, ingest ts])."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    schema = StructType(FX_BRONZE_RAW.fields + [StructField("_ingest_ts", TimestampType()),
                                                StructField("_source", StringType()),
                                                StructField("_batch_id", StringType())])
    data = [(r[0], r[1], r[2], "test", r[3] if len(r) > 3 else T1, "ecb_fx", "b1") for r in rows]
    return spark.createDataFrame(data, schema)


def _rates(result):
    return {(r["as_of_date"].isoformat(), r["ccy"]): r for r in result.rates.collect()}


def test_dedup_bad_rows_and_eur_reference_rates(spark):
    from deplat_job.pipelines import fx

    bronze = _bronze(spark, [
        ("2024-01-02", "USD", "1.0956"),
        ("2024-01-02", "USD", "1.1000", T2),  # later ingest of the same cell wins
        ("2024-01-02", "GBP", "0.8670"),
        ("2024-01-02", "CYP", "N/A"),  # not quoted: neither a rate nor an error
        ("2024-01-02", "JPY", ""),
        ("2024-01-02", "CHF", "abc"),
        ("2024-01-02", "SEK", "-1.5"),
        ("2024-01-02", "NOK", "0"),
        ("2024-13-45", "DKK", "7.45"),
        ("2024-01-02", "us$", "1.0"),
    ])
    result = fx.build_fx_rates(bronze, "EUR", "b9")
    rates = _rates(result)
    assert set(rates) == {("2024-01-02", "USD"), ("2024-01-02", "GBP"), ("2024-01-02", "EUR")}
    assert rates[("2024-01-02", "USD")]["rate_to_base"] == Decimal("1.1000000000")
    assert rates[("2024-01-02", "USD")]["rate_category"] == "reference"
    assert rates[("2024-01-02", "EUR")]["rate_to_base"] == 1
    assert rates[("2024-01-02", "EUR")]["rate_category"] == "base"
    assert {r["_batch_id"] for r in rates.values()} == {"b9"}
    assert result.rates.schema.names == fx.FX_RATES.names

    reasons = {(r["currency"], r["_error_reason"]) for r in result.errors.collect()}
    assert reasons == {("JPY", "missing rate"), ("CHF", "non-numeric rate"),
                       ("SEK", "non-positive rate"), ("NOK", "non-positive rate"),
                       ("DKK", "invalid date"), ("us$", "invalid currency code")}
    assert result.not_quoted.count() == 1
    assert [r["rate"] for r in result.duplicates.collect()] == ["1.0956"]


def test_usd_base_divides_by_the_usd_rate(spark):
    from deplat_job.pipelines import fx

    bronze = _bronze(spark, [
        ("2024-01-02", "USD", "1.25"), ("2024-01-02", "GBP", "0.85"), ("2024-01-02", "JPY", "150"),
        ("2024-01-03", "GBP", "0.86"),  # no USD that day: cannot be rebased
    ])
    result = fx.build_fx_rates(bronze, "usd")
    rates = _rates(result)
    assert set(rates) == {("2024-01-02", c) for c in ("USD", "GBP", "JPY", "EUR")}
    assert rates[("2024-01-02", "GBP")]["rate_to_base"] == Decimal("0.6800000000")  # 0.85 / 1.25
    assert rates[("2024-01-02", "JPY")]["rate_to_base"] == Decimal("120.0000000000")
    assert rates[("2024-01-02", "EUR")]["rate_to_base"] == Decimal("0.8000000000")  # 1 / 1.25
    assert rates[("2024-01-02", "USD")]["rate_to_base"] == 1
    assert {r["base_ccy"] for r in rates.values()} == {"USD"}
    assert rates[("2024-01-02", "GBP")]["rate_category"] == "cross"
    assert rates[("2024-01-02", "USD")]["rate_category"] == "base"
    assert [(r["currency"], r["_error_reason"]) for r in result.errors.collect()] == [
        ("GBP", "no USD rate on this date")]


def _files_by_day(spark, path):
    """File -> the set of as_of_date values it holds (the table is not partitioned)."""
    from pyspark.sql import functions as F

    rows = (spark.read.format("delta").load(path).withColumn("_file", F.input_file_name())
            .groupBy("_file").agg(F.collect_set(F.col("as_of_date").cast("string")).alias("days")).collect())
    return {r["_file"]: frozenset(r["days"]) for r in rows}


def test_partition_reprocess_rewrites_only_that_date(spark, tmp_path):
    from delta.tables import DeltaTable

    from deplat_job.pipelines import fx

    path = str(tmp_path / "fx_rates")
    days = ["2024-01-02", "2024-01-03", "2024-01-04"]
    bronze = _bronze(spark, [(d, c, v) for d in days for c, v in (("USD", "1.1"), ("GBP", "0.86"))])
    fx.write_silver(fx.build_fx_rates(bronze, "EUR", "full").rates, path, files=3)
    assert DeltaTable.forPath(spark, path).detail().first()["partitionColumns"] == []
    before = _files_by_day(spark, path)
    # range-split: each file holds one disjoint date range (here one day), so stats prune the rest
    assert sorted(sorted(v) for v in before.values()) == [[d] for d in days]
    assert spark.read.format("delta").load(path).count() == 9  # 3 days x (USD, GBP, EUR)

    fixed = _bronze(spark, [("2024-01-03", "USD", "1.2"), ("2024-01-03", "GBP", "0.87")])
    for run in ("fix1", "fix2"):  # twice: idempotent
        day = fx.partition_filter(fixed, "rate_date", "2024-01-03")
        fx.write_silver(fx.build_fx_rates(day, "EUR", run).rates, path, "2024-01-03")

    after = _files_by_day(spark, path)
    untouched = {f for f, d in before.items() if "2024-01-03" not in d}
    assert untouched <= set(after)  # the other days' files were not rewritten
    assert not ({f for f, d in before.items() if "2024-01-03" in d} & set(after))
    table = spark.read.format("delta").load(path)
    assert table.count() == 9
    rows = {(r["as_of_date"], r["ccy"]): r for r in table.collect()}
    assert rows[(date(2024, 1, 3), "USD")]["rate_to_base"] == Decimal("1.2")
    assert rows[(date(2024, 1, 3), "USD")]["_batch_id"] == "fix2"
    assert rows[(date(2024, 1, 2), "USD")]["_batch_id"] == "full"
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert "2024-01-03" in last["operationParameters"]["predicate"]
    assert last["operationMetrics"]["numRemovedFiles"] == "1"

    stray = _bronze(spark, [("2024-01-04", "USD", "1.3")])
    with pytest.raises(Exception, match="(?i)replaceWhere|does not conform|DELTA_REPLACE_WHERE"):
        fx.write_silver(fx.build_fx_rates(stray, "EUR", "x").rates, path, "2024-01-03")


def test_bronze_full_load_and_one_date_are_idempotent(spark, tmp_path):
    from deplat_job.pipelines import fx

    path = str(tmp_path / "bronze")
    full = _bronze(spark, [(d, "USD", "1.1") for d in ("2024-01-02", "2024-01-03")])
    fx.write_bronze(full, path)
    fx.write_bronze(full, path)
    assert spark.read.format("delta").load(path).count() == 2
    one = _bronze(spark, [("2024-01-03", "USD", "1.2")])
    fx.write_bronze(one, path, "2024-01-03")
    fx.write_bronze(one, path, "2024-01-03")
    rows = sorted((r["rate_date"], r["rate"]) for r in spark.read.format("delta").load(path).collect())
    assert rows == [("2024-01-02", "1.1"), ("2024-01-03", "1.2")]


def test_cross_check_one_row_per_currency_per_ecb_business_day(spark):
    """On the real packaged history: per business day, silver has every currency the file quotes
    that day (numeric cells), plus EUR; nothing else."""
    from pyspark.sql import functions as F

    from deplat_job.pipelines import fx
    from deplat_job.pipelines.common import add_ingest_metadata

    history = ecb.parse(ecb.fetch(ecb.PACKAGED))
    expected = Counter(d for d, _, v in history.cells if v not in (None, ecb.NOT_QUOTED))
    bronze = add_ingest_metadata(fx.bronze_frame(spark, history.cells, "packaged"), "ecb_fx", "x")
    result = fx.build_fx_rates(bronze)
    assert result.errors.count() == 0 and result.duplicates.count() == 0
    got = {r["d"].isoformat(): r["n"] for r in
           result.rates.groupBy(F.col("as_of_date").alias("d")).agg(F.count("*").alias("n")).collect()}
    assert set(got) == set(history.dates)
    assert all(got[d] == expected[d] + 1 for d in history.dates)  # + the EUR row
    assert result.rates.select("as_of_date", "ccy").distinct().count() == sum(got.values())
