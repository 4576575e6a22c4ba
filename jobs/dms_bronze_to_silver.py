"""DMS bronze -> silver: the current row per key (the source's last committed change, deletes and
ghost keys removed), typed, partitioned by a business date. Bad rows go to _errors/dms.

Args: --lake --batch-id --env [--partition-date D] [--tables app.customers,app.orders].
A key snapshot of the source (`deplat dr reconcile <table>`) is applied when one was landed.
A source column whose values no longer fit the declared type is reported as schema drift (the
metrics' `note` and each table's `schema_drift`), with the keys it holds back.
"""

from __future__ import annotations

from deplat_job.pipelines import dms
from deplat_job.pipelines.common import SilverItem, bronze_to_silver, emit_metrics, job_parser, parse_args
from deplat_job.pipelines.session import get_spark
from deplat_job.pipelines.source_specs import DMS_TABLES

STEP = "dms_bronze_to_silver"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DMS_TABLES))
    args = parse_args(parser, argv)

    spark = get_spark(STEP)
    tables = [dms.spec(name.strip()) for name in args.tables.split(",")]
    items = [SilverItem(t.qualified, t.bronze_table, t.silver_table, t.partition_column, t.key,
                        lambda bronze, t=t: dms.current_rows(bronze, t, dms.key_snapshot(spark, args.lake, t)))
             for t in tables]
    totals, per_table = bronze_to_silver(spark, args.lake, dms.SOURCE, items, args.batch_id, args.partition_date)
    # A source type change shows in `deplat run`'s note column, not only as a rejected count.
    notes = [dms.drift_note(name, counts.get("schema_drift") or [])
             for name, counts in per_table.items() if isinstance(counts, dict)]
    notes = [n for n in notes if n]
    for t in tables:
        if isinstance(per_table.get(t.qualified), dict):
            dms.write_drift_state(spark, args.lake, t, per_table[t.qualified].get("schema_drift") or [], args.batch_id)
    emit_metrics(STEP, **totals, tables=per_table, **({"note": " | ".join(notes)} if notes else {}))


if __name__ == "__main__":
    main()
