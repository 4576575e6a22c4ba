"""Salesforce accounts/opportunities -> bronze, incremental on SystemModstamp (queryAll: deletes too;
getDeleted: deletions whose recycle bin was emptied; past getDeleted's reach, ID reconciliation).

Credentials come from Secrets Manager by name; the watermark per object moves only after its
bronze commit; each object's describe is kept for the silver step's decimal sizes.
Once a day a late-row check reads a wider window and counts the records that became visible later
than the lookback (`late_rows`).
Args: --lake --batch-id --env [--objects Account,Opportunity] [--lookback-seconds N]
[--late-window-seconds N] [--late-check-every-seconds N].
"""

from __future__ import annotations

from deplat_job.pipelines import salesforce as sfp
from deplat_job.pipelines.common import emit_metrics, job_parser, parse_args
from deplat_job.pipelines.session import get_spark
from deplat_job.sources import salesforce as source

STEP = "salesforce_to_bronze"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--objects", default="Account,Opportunity")
    parser.add_argument("--lookback-seconds", type=int, default=sfp.DEFAULT_LOOKBACK_SECONDS,
                        help="re-read this far behind the watermark (default: Salesforce's polling guidance)")
    parser.add_argument("--late-window-seconds", type=int, default=sfp.DEFAULT_LATE_WINDOW_SECONDS,
                        help="the late-row check reads this far behind its last watermark (0: no check)")
    parser.add_argument("--late-check-every-seconds", type=int, default=sfp.DEFAULT_LATE_CHECK_EVERY_SECONDS,
                        help="run the late-row check when the last one is this old (0: every run)")
    parser.add_argument("--secret-name", default=None, help="default: deplat/<env>/salesforce")
    args = parse_args(parser, argv)

    sf = source.connect(source.read_config(args.secret_name or source.secret_name(args.env)))
    spark = get_spark(STEP)
    results = []
    for name in args.objects.split(","):
        obj = sfp.spec(name.strip())
        sfp.write_describe(spark, args.lake, obj.name, source.describe_fields(sf, obj.name))
        results.append(sfp.ingest_increment(
            spark, args.lake, obj,
            lambda since, obj=obj: source.fetch_changes(sf, obj.name, obj.fields, since),
            batch_id=args.batch_id, lookback_seconds=args.lookback_seconds,
            fetch_deleted=lambda start, end, obj=obj: source.fetch_deleted(sf, obj.name, start, end),
            fetch_ids=lambda obj=obj: source.fetch_ids(sf, obj.name),
            late_window_seconds=args.late_window_seconds, late_check_every_seconds=args.late_check_every_seconds,
        ))
    per_object = {
        r.object: {"read": r.read, "written": r.written, "skipped": r.skipped, "rejected": r.rejected,
                   "deletions": r.deletions, "deletes_from": r.deletes_from,
                   "reconciled_deletions": r.reconciled, "late_rows": r.late,
                   "late_check_from": r.late_check_from and sfp.format_sf_datetime(r.late_check_from),
                   "late_behind_seconds": r.late_behind_seconds, "late_ids": list(r.late_ids[:sfp.LATE_IDS_KEPT]),
                   "watermark": r.watermark_after and sfp.format_sf_datetime(r.watermark_after)}
        for r in results
    }
    emit_metrics(STEP, sum(r.read for r in results), sum(r.written for r in results),
                 sum(r.rejected for r in results), sum(r.skipped for r in results),
                 late_rows=sum(r.late for r in results), objects=per_object,
                 lookback_seconds=args.lookback_seconds)


if __name__ == "__main__":
    main()
