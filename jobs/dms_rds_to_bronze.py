"""RDS changes landed by DMS (full load + CDC files) -> bronze: every change, each file once.

Every file is read with its own header (columns matched by name). `read` is counted on the files,
`written` is the bronze commit's own count. Args: --lake --batch-id --env [--tables app.customers,app.orders].
"""

from __future__ import annotations

from deplat_job.pipelines import dms
from deplat_job.pipelines.common import emit_metrics, job_parser, parse_args
from deplat_job.pipelines.session import get_spark
from deplat_job.pipelines.source_specs import DMS_TABLES

STEP = "dms_rds_to_bronze"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DMS_TABLES))
    args = parse_args(parser, argv)

    spark = get_spark(STEP)
    results = [dms.ingest_table(spark, args.lake, dms.spec(t.strip()), args.batch_id)
               for t in args.tables.split(",")]
    emit_metrics(STEP, sum(r.read for r in results), sum(r.written for r in results), 0,
                 tables={r.table: {"files": r.files, "read": r.read, "written": r.written,
                                   "new_columns": list(r.new_columns)} for r in results})


if __name__ == "__main__":
    main()
