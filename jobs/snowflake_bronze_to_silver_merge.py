"""snowflake_bronze_to_silver_merge: MERGE new bronze rows into lake/silver/<table>_tpch (snowflake_<table>) by key.

Reads only the bronze versions not merged yet (Change Data Feed, watermark in lake/_state) and
restricts the MERGE to the partitions those rows touch, so its cost follows the change set.
"""

from __future__ import annotations

from delta.tables import DeltaTable

from deplat_job.pipelines import common
from deplat_job.pipelines import snowflake as sf
from deplat_job.pipelines.session import get_spark
from deplat_job.pipelines.table_schemas import TPCH_TABLES

STEP = "snowflake_bronze_to_silver_merge"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    sf.add_table_args(parser)
    args = common.parse_args(parser, argv)
    tracking, tables = sf.selected_tables(parser, args)

    spark = get_spark(STEP)
    state_path = common.table_path(args.lake, "_state", sf.STATE_TABLE)
    state = sf.read_state(spark, state_path)
    read = written = rejected = skipped = 0
    per_table = {}
    for name in tables:
        bronze_path = common.table_path(args.lake, "bronze", f"snowflake_{name}")
        if not DeltaTable.isDeltaTable(spark, bronze_path):
            raise RuntimeError(f"{bronze_path} is not a Delta table: run snowflake_to_bronze first")
        spec = TPCH_TABLES.get(name) or sf.spec_from_bronze(
            name, tracking[name].key, DeltaTable.forPath(spark, bronze_path).toDF().schema)
        changes, latest = sf.changes_since(spark, bronze_path, state.get(sf.merge_state_key(name)))
        if changes is None:
            per_table[name] = {"changes": 0}
            continue
        changes = changes.cache()
        result = sf.to_silver(spec, changes)
        merged = sf.merge_into(spark, common.table_path(args.lake, "silver", spec.silver_table),
                               result.rows, spec)
        bad = common.write_errors(result.errors, args.lake, "snowflake", args.batch_id)
        sf.write_state(spark, state_path, sf.merge_state_key(name), latest, args.batch_id)
        n = changes.count()
        superseded = result.superseded.count()
        changes.unpersist()
        read, written, rejected = read + n, written + merged.inserted + merged.updated, rejected + bad
        skipped += superseded + merged.stale
        per_table[name] = {"changes": n, "inserted": merged.inserted, "updated": merged.updated,
                           "rejected": bad, "superseded": superseded, "stale": merged.stale,
                           "partitions": len(merged.partitions), "bronze_version": latest}
    common.emit_metrics(STEP, read=read, written=written, rejected=rejected, skipped=skipped, tables=per_table)


if __name__ == "__main__":
    main()
