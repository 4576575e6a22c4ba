"""Salesforce bronze -> silver: latest version per Id, deletes applied, typed, partitioned by created date.

Bad rows (missing Id, values that do not cast) go to _errors/salesforce with a reason.
Args: --lake --batch-id --env [--partition-date D] [--objects Account,Opportunity].
"""

from __future__ import annotations

from deplat.pipelines import salesforce as sfp
from deplat.pipelines.common import emit_metrics, job_parser, parse_args, table_path, write_errors, write_silver
from deplat.pipelines.session import get_spark

STEP = "salesforce_bronze_to_silver"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--objects", default="Account,Opportunity")
    args = parse_args(parser, argv)

    spark = get_spark(STEP)
    from delta.tables import DeltaTable

    read = written = rejected = 0
    per_object = {}
    for name in args.objects.split(","):
        obj = sfp.spec(name.strip())
        bronze_path = table_path(args.lake, "bronze", obj.bronze_table)
        if not DeltaTable.isDeltaTable(spark, bronze_path):
            per_object[obj.name] = "no bronze yet"
            continue
        bronze = spark.read.format("delta").load(bronze_path).cache()
        result = sfp.to_silver(bronze, obj)
        n_read = bronze.count()
        n_written = write_silver(result.current, table_path(args.lake, "silver", obj.silver_table),
                                 obj.partition_column, args.partition_date)
        n_rejected = write_errors(result.rejected, args.lake, sfp.SOURCE, args.batch_id)
        bronze.unpersist()
        read, written, rejected = read + n_read, written + n_written, rejected + n_rejected
        per_object[obj.name] = {"read": n_read, "written": n_written, "rejected": n_rejected}
    emit_metrics(STEP, read, written, rejected, objects=per_object)


if __name__ == "__main__":
    main()
