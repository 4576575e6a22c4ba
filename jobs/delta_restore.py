"""delta_restore: Delta RESTORE of one table to an earlier version (`deplat dr restore`).

RESTORE commits add/remove actions for files the target version already had: nothing is copied.
The CLI previews the change and checks the files still exist before it submits this job.
"""

from __future__ import annotations

from deplat_job.pipelines import common
from deplat_job.pipelines import maintenance as m
from deplat_job.pipelines.session import get_spark

STEP = "delta_restore"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="<layer>.<name>")
    parser.add_argument("--version", type=int, required=True, help="the version to restore")
    args = common.parse_args(parser, argv)

    layer, _, name = args.table.partition(".")
    spark = get_spark(STEP)
    metrics = m.restore_table(spark, common.table_path(args.lake, layer, name), args.version)
    common.emit_metrics(STEP, read=metrics.get("num_restored_files", 0),
                        written=metrics.get("num_of_files_after_restore", 0), rejected=0,
                        table=args.table, version=args.version, **metrics)


if __name__ == "__main__":
    main()
