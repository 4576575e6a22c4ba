"""Salesforce bronze -> silver: latest version per Id, deletes applied, typed (decimals sized by the
object's describe), partitioned by created date.

Bad rows (missing Id, values that do not type) go to _errors/salesforce with a reason.
Args: --lake --batch-id --env [--partition-date D] [--objects Account,Opportunity].
"""

from __future__ import annotations

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import SilverItem, bronze_to_silver, emit_metrics, job_parser, parse_args
from deplat_job.pipelines.session import get_spark

STEP = "salesforce_bronze_to_silver"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--objects", default="Account,Opportunity")
    args = parse_args(parser, argv)

    spark = get_spark(STEP)
    objects = [sfp.spec(name.strip()) for name in args.objects.split(",")]
    items = [SilverItem(o.name, o.bronze_table, o.silver_table, o.partition_column, (o.key,),
                        lambda bronze, o=o: sfp.to_silver(bronze, o, sfp.read_describe(spark, args.lake, o.name)))
             for o in objects]
    totals, per_object = bronze_to_silver(spark, args.lake, sfp.SOURCE, items, args.batch_id, args.partition_date)
    emit_metrics(STEP, **totals, objects=per_object)


if __name__ == "__main__":
    main()
