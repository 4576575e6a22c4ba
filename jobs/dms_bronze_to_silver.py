"""DMS bronze -> silver: the current row per key (latest change by commit time and sequence wins,
deletes applied), typed, partitioned by a business date. Bad rows go to _errors/dms.

Args: --lake --batch-id --env [--partition-date D] [--tables app.customers,app.orders].
"""

from __future__ import annotations

from deplat.pipelines import dms
from deplat.pipelines.common import emit_metrics, job_parser, parse_args, table_path, write_errors, write_silver
from deplat.pipelines.session import get_spark
from deplat.pipelines.source_specs import DMS_TABLES

STEP = "dms_bronze_to_silver"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DMS_TABLES))
    args = parse_args(parser, argv)

    spark = get_spark(STEP)
    from delta.tables import DeltaTable

    read = written = rejected = 0
    per_table = {}
    for name in args.tables.split(","):
        table = dms.spec(name.strip())
        bronze_path = table_path(args.lake, "bronze", table.bronze_table)
        if not DeltaTable.isDeltaTable(spark, bronze_path):
            per_table[table.qualified] = "no bronze yet"
            continue
        bronze = spark.read.format("delta").load(bronze_path).cache()
        result = dms.current_rows(bronze, table)
        n_read = bronze.count()
        n_written = write_silver(result.current, table_path(args.lake, "silver", table.silver_table),
                                 table.partition_column, args.partition_date)
        n_rejected = write_errors(result.rejected, args.lake, dms.SOURCE, args.batch_id)
        bronze.unpersist()
        read, written, rejected = read + n_read, written + n_written, rejected + n_rejected
        per_table[table.qualified] = {"read": n_read, "written": n_written, "rejected": n_rejected}
    emit_metrics(STEP, read, written, rejected, tables=per_table)


if __name__ == "__main__":
    main()
