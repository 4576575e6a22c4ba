"""delta_maintenance: OPTIMIZE (bin-pack, Z-ORDER or clustering) and VACUUM the lake's Delta tables.

One DEPLAT_METRICS line per table (files and bytes before/after) and a summary line. The weekly
EventBridge schedule starts this same script with the same arguments as `deplat run maintenance`.
"""

from __future__ import annotations

from deplat_job.pipelines import common
from deplat_job.pipelines import maintenance as m
from deplat_job.pipelines.session import get_spark

STEP = "delta_maintenance"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--layers", default=",".join(m.DEFAULT_LAYERS), help="comma-separated layers")
    parser.add_argument("--table", default=None, help="only this table, <layer>.<name>")
    parser.add_argument("--zorder", default=None, help="Z-ORDER by this column where it exists")
    parser.add_argument("--retention-hours", type=float, default=m.RETENTION_FLOOR_HOURS)
    parser.add_argument("--force", action="store_true", help="allow retention below the floor")
    parser.add_argument("--dry-run", action="store_true", help="measure and list; change nothing")
    args = common.parse_args(parser, argv)
    m.check_retention(args.retention_hours, args.force)  # before any Spark work

    spark = get_spark(STEP)
    layers = [x for x in args.layers.split(",") if x]
    results = []
    for name, path in m.list_tables(spark, args.lake, layers, args.table):
        record = m.maintain_table(spark, name, path, args.zorder, args.retention_hours,
                                  args.dry_run, args.force)
        results.append(record)
        common.emit_metrics(STEP, read=record.files_before, written=record.files_after, rejected=0,
                            kind="table", **record.to_dict())
    common.emit_metrics(STEP, read=len(results), written=sum(not r.dry_run for r in results), rejected=0,
                        kind="summary", dry_run=args.dry_run, retention_hours=args.retention_hours,
                        layers=layers)


if __name__ == "__main__":
    main()
