"""Salesforce accounts/opportunities -> bronze, incremental on SystemModstamp (queryAll: deletes too).

Credentials come from Secrets Manager by name; the watermark per object moves only after its
bronze commit. Args: --lake --batch-id --env [--objects Account,Opportunity] [--lookback-seconds N].
"""

from __future__ import annotations

from deplat.pipelines import salesforce as sfp
from deplat.pipelines.common import emit_metrics, job_parser, parse_args
from deplat.pipelines.session import get_spark
from deplat.sources import salesforce as source

STEP = "salesforce_to_bronze"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--objects", default="Account,Opportunity")
    parser.add_argument("--lookback-seconds", type=int, default=sfp.DEFAULT_LOOKBACK_SECONDS)
    parser.add_argument("--secret-name", default=None, help="default: deplat/<env>/salesforce")
    args = parse_args(parser, argv)

    sf = source.connect(source.read_config(args.secret_name or source.secret_name(args.env)))
    spark = get_spark(STEP)
    results = []
    for name in args.objects.split(","):
        obj = sfp.spec(name.strip())
        results.append(sfp.ingest_increment(
            spark, args.lake, obj,
            lambda since, obj=obj: source.fetch_changes(sf, obj.name, obj.fields, since),
            batch_id=args.batch_id, lookback_seconds=args.lookback_seconds,
        ))
    per_object = {
        r.object: {"read": r.read, "written": r.written,
                   "watermark": r.watermark_after and sfp.format_sf_datetime(r.watermark_after)}
        for r in results
    }
    emit_metrics(STEP, sum(r.read for r in results), sum(r.written for r in results), 0, objects=per_object)


if __name__ == "__main__":
    main()
