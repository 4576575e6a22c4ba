"""The DQ gate vs one hand-written single-pass aggregate computing the same checks.

Goals: gate <= 1.2x the hand-written aggregate (issue 9) and <= 0.7x Great Expectations 1.x
validating the whole suite at BOOLEAN_ONLY (GX's cheapest result format, persist=False) over the same
uncached frame (issue 23), on silver.fx_rates with the fx suite (the local lake's, or a synthetic one of
the same shape when the lake has none) and on a 2M-row synthetic table. Correct first: before timing,
the gate's verdicts must equal GX's. Counts Spark jobs of each (sc.setJobGroup + statusTracker). Runs
alternate between the contenders so drift on a shared machine hits all alike; the median of --runs is
reported. Prints the ratios last.

Usage: python benchmarks/dq_vs_scan.py [--runs N] [--rows N] [--lake PATH] [--no-gx]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from deplat_job.dq import engine
from deplat_job.dq.suite import load_suite, parse_suite

ROOT = Path(__file__).resolve().parents[1]
TODAY = date.today()

BIG_SUITE = {
    "table": "silver.bench_orders",
    "expectations": [
        {"check": "not_null", "column": "order_id"},
        {"check": "not_null", "column": "customer_id"},
        {"check": "not_null", "column": "amount"},
        {"check": "unique", "column": "order_id"},
        {"check": "unique", "columns": ["customer_id", "order_date"], "severity": "warn"},
        {"check": "between", "column": "amount", "min": 0, "strict_min": True},
        {"check": "in_set", "column": "status", "values": ["O", "F", "P"]},
        {"check": "regex", "column": "currency", "pattern": "^[A-Z]{3}$"},
        {"check": "row_count", "min": 1},
        {"check": "freshness", "column": "order_date", "max_age_days": 100000, "severity": "warn"},
    ],
}


def hand_written(df, suite_name: str):
    """The same checks, written by hand as one df.agg (what an engineer would write without a DQ tool)."""
    from pyspark.sql import functions as F

    def bad(cond):
        return F.sum(F.when(cond, 1).otherwise(0))

    if suite_name == "fx":
        row = df.agg(
            F.count(F.lit(1)), bad(F.col("ccy").isNull()), bad(F.col("base_ccy").isNull()),
            bad(F.col("rate_to_base").isNull()), bad(F.col("as_of_date").isNull()),
            F.countDistinct("ccy", "as_of_date"), bad(F.col("rate_to_base") <= 0),
            bad(~F.col("ccy").rlike("^[A-Z]{3}$")), bad(~F.col("rate_category").isin("base", "reference", "cross")),
            F.max("as_of_date")).collect()[0]
    else:
        row = df.agg(
            F.count(F.lit(1)), bad(F.col("order_id").isNull()), bad(F.col("customer_id").isNull()),
            bad(F.col("amount").isNull()), F.countDistinct("order_id"), F.countDistinct("customer_id", "order_date"),
            bad(F.col("amount") <= 0), bad(~F.col("status").isin("O", "F", "P")),
            bad(~F.col("currency").rlike("^[A-Z]{3}$")), F.max("order_date")).collect()[0]
    return row


def _big_table(spark, path: str, rows: int) -> None:
    from pyspark.sql import functions as F

    ids = spark.range(0, rows)
    ids.select(
        F.concat(F.lit("o-"), F.col("id").cast("string")).alias("order_id"),
        (F.col("id") % 50000).cast("string").alias("customer_id"),
        F.date_add(F.lit("2020-01-01"), (F.col("id") % 2000).cast("int")).alias("order_date"),
        ((F.col("id") % 100000) / 100 + 1).cast("decimal(18,2)").alias("amount"),
        F.element_at(F.array(F.lit("EUR"), F.lit("USD"), F.lit("GBP")), (F.col("id") % 3 + 1).cast("int"))
        .alias("currency"),
        F.element_at(F.array(F.lit("O"), F.lit("F"), F.lit("P")), (F.col("id") % 3 + 1).cast("int")).alias("status"),
    ).repartition(4).write.format("delta").mode("overwrite").save(path)


def _fx_table(spark, lake: Path, scratch: str) -> str:
    real = lake / "silver" / "fx_rates"
    if (real / "_delta_log").is_dir():
        return str(real)
    from pyspark.sql import functions as F

    path = f"{scratch}/fx_rates"
    days = spark.range(0, 6500).select(F.date_add(F.lit("2000-01-03"), F.col("id").cast("int")).alias("as_of_date"))
    ccys = spark.createDataFrame([(c,) for c in ("USD", "JPY", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK",
                                                 "HUF", "RON", "TRY", "AUD", "CAD", "NZD", "ZAR", "BRL", "CNY",
                                                 "INR", "IDR", "KRW", "MXN", "SGD", "HKD", "THB", "EUR")], "ccy STRING")
    days.crossJoin(ccys).select(
        "ccy", F.lit("EUR").alias("base_ccy"), F.lit(1.2345).cast("decimal(24,10)").alias("rate_to_base"),
        "as_of_date", F.lit("reference").alias("rate_category"), F.lit("bench").alias("_batch_id"),
    ).write.format("delta").save(path)
    return path


def _timed(spark, group: str, fn):
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    jobs = len(sc.statusTracker().getJobIdsForGroup(group))
    sc.setJobGroup("", "")
    return elapsed, jobs


def measure(spark, name: str, path: str, suite, runs: int, gx: bool) -> dict:
    df = spark.read.format("delta").load(path)
    rows = df.count()
    contenders = {
        "hand-written agg": lambda: hand_written(df, name),
        "deplat gate": lambda: engine.gate(df, suite, {}, TODAY),
        "gate unfolded": lambda: engine.gate_rows(df, suite, {}, fold=False),
    }
    if gx:
        contenders["GX BOOLEAN_ONLY"] = lambda: engine.gx_validate(df, suite, {}, result_format="BOOLEAN_ONLY")
    for fn in contenders.values():  # warm-up: JIT, file listing, Delta snapshot, GX import
        fn()
    if gx:  # correct first: the same verdicts as GX
        _, ours = engine.gate(df, suite, {}, TODAY)
        theirs = engine.gx_validate(df, suite, {}, result_format="BOOLEAN_ONLY", today=TODAY)
        verdicts = {r.expectation_config.meta["deplat_check"]: r.success for r in theirs.results}
        wrong = {r.expectation: (r.success, verdicts[r.expectation]) for r in ours
                 if r.success != verdicts[r.expectation]}
        if wrong:
            raise SystemExit(f"{name}: the gate and GX disagree (gate, GX): {wrong}")
    times: dict[str, list[float]] = {k: [] for k in contenders}
    jobs: dict[str, int] = {}
    for i in range(runs):
        for label, fn in contenders.items():
            elapsed, n = _timed(spark, f"bench-{name}-{label}-{i}", fn)
            times[label].append(elapsed)
            jobs[label] = n
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{name}: {rows:,} rows, {len(suite.checks)} expectations, median of {runs}")
    for label in contenders:
        print(f"  {label:<18} {med[label]:7.3f} s   {jobs[label]:>2} Spark jobs   "
              f"{med[label] / med['hand-written agg']:.2f}x")
    return {"name": name, "median": med, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--lake", default=str(ROOT / ".deplat" / "local" / "lake"))
    parser.add_argument("--no-gx", action="store_true", help="skip the GX reference timing")
    args = parser.parse_args()

    from deplat.local.jars import ensure_jars
    from deplat_job.pipelines.session import get_spark

    spark = get_spark("dq-bench", master="local[2]", jars=ensure_jars())
    results = []
    with tempfile.TemporaryDirectory(prefix="dq-bench-") as scratch:
        fx_path = _fx_table(spark, Path(args.lake), scratch)
        results.append(measure(spark, "fx", fx_path, load_suite(ROOT / "dq" / "suites" / "silver_fx_rates.yml"),
                               args.runs, not args.no_gx))
        big = f"{scratch}/bench_orders"
        _big_table(spark, big, args.rows)
        results.append(measure(spark, f"{args.rows // 1_000_000}M", big, parse_suite(BIG_SUITE, "bench_orders"),
                               args.runs, not args.no_gx))
    spark.stop()
    total = {k: sum(r["median"][k] for r in results) for k in ("hand-written agg", "deplat gate")}
    worst = max(r["median"]["deplat gate"] / r["median"]["hand-written agg"] for r in results)
    print(f"\nworst per-table ratio gate / hand-written: {worst:.2f}x")
    print(f"ratio gate / hand-written aggregate (both tables): "
          f"{total['deplat gate'] / total['hand-written agg']:.2f}x (goal <= 1.2)")
    if not args.no_gx:
        for r in results:
            print(f"ratio gate / GX BOOLEAN_ONLY ({r['name']}): "
                  f"{r['median']['deplat gate'] / r['median']['GX BOOLEAN_ONLY']:.2f}x (goal <= 0.7)")


if __name__ == "__main__":
    main()
