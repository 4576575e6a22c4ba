"""Key snapshot of DMS source tables -> <lake>/_landing/dms_keys/<schema>/<table>/KEYS-<ts>-<seq>.csv.

Runs where the source is reachable (EMR Serverless in the cloud, spark-submit locally). The RDS
credentials are read from Secrets Manager by name inside the job, never passed as values.
The next dms_bronze_to_silver removes the ghost keys the snapshot reveals (`deplat dr reconcile`).
Args: --lake --batch-id --env [--tables app.orders,...: default every declared DMS table]
[--secret-name deplat/<env>/rds] [--seq-scale dms|wal].
"""

from __future__ import annotations

from deplat_job.pipelines import dms
from deplat_job.pipelines.common import emit_metrics, job_parser, parse_args
from deplat_job.pipelines.session import get_spark
from deplat_job.pipelines.source_specs import DMS_TABLES
from deplat_job.sources import rds
from deplat_job.sources.secret_store import read_secret, secret_name

STEP = "dms_key_snapshot"


def main(argv=None) -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DMS_TABLES), help="schema.table[,schema.table]")
    parser.add_argument("--secret-name", default=None, help="default: deplat/<env>/rds")
    parser.add_argument("--seq-scale", choices=rds.SEQ_SCALES, default=None,
                        help="the landing files' _dms_seq: dms (AR_H_CHANGE_SEQ) or wal (deplat's local capture); "
                             "default: wal for --env local, else dms")
    args = parse_args(parser, argv)
    scale = args.seq_scale or ("wal" if args.env == "local" else "dms")

    conn = rds.connect(read_secret(args.secret_name or secret_name(args.env, rds.SECRET_SOURCE)))
    spark = get_spark(STEP)
    try:
        landed = [dms.land_key_snapshot(spark, args.lake, rds.take_key_snapshot(conn, name, scale),
                                        DMS_TABLES.get(name))
                  for name in (t.strip() for t in args.tables.split(","))]
    finally:
        conn.close()
    emit_metrics(STEP, sum(s.source_keys for s in landed), sum(s.written for s in landed), 0,
                 tables={s.table: s.report() for s in landed})


if __name__ == "__main__":
    main()
