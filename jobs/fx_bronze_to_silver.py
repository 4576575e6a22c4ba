"""fx_bronze_to_silver: lake/bronze/fx_rates -> lake/silver/fx_rates (typed, deduplicated, rebased).

Bad rates go to lake/_errors/fx with a reason; --partition-date rewrites only that as_of_date.
"""

from __future__ import annotations

from deplat_job.pipelines import common
from deplat_job.pipelines import fx as fx_pipeline
from deplat_job.pipelines.session import get_spark

STEP = "fx_bronze_to_silver"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--base-currency", default=fx_pipeline.DEFAULT_BASE,
                        help="ISO code every rate is expressed against (default EUR)")
    args = common.parse_args(parser, argv)

    spark = get_spark(STEP)
    bronze = spark.read.format("delta").load(common.table_path(args.lake, "bronze", "fx_rates"))
    bronze = fx_pipeline.partition_filter(bronze, "rate_date", args.partition_date).cache()
    result = fx_pipeline.build_fx_rates(bronze, args.base_currency, args.batch_id)

    rates = result.rates.cache()
    written = rates.count()
    fx_pipeline.write_silver(rates, common.table_path(args.lake, "silver", "fx_rates"), args.partition_date,
                             files=-(-written // fx_pipeline.ROWS_PER_FILE))
    rejected = common.write_errors(result.errors, args.lake, "fx", args.batch_id)
    not_quoted, duplicates = result.not_quoted.count(), result.duplicates.count()
    # `derived`: the EUR rows the step makes (EUR is the ECB's reference, never a quoted cell).
    derived = rates.filter(rates.ccy == "EUR").count()
    common.emit_metrics(STEP, read=bronze.count(), written=written, rejected=rejected,
                        skipped=not_quoted + duplicates, derived=derived,
                        not_quoted=not_quoted, duplicates=duplicates,
                        base_currency=args.base_currency.upper(), partition_date=args.partition_date)


if __name__ == "__main__":
    main()
