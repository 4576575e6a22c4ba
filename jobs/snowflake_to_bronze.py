"""snowflake_to_bronze: backfill TPC-H tables from Snowflake into lake/bronze/snowflake_<table>.

Chunked by key range; the watermark in lake/_state/snowflake advances after each committed chunk,
so a failed run resumes where it stopped and a rerun reads only keys above the watermark.
"""

from __future__ import annotations

from deplat.pipelines import common
from deplat.pipelines import snowflake as sf
from deplat.pipelines.session import get_spark
from deplat.pipelines.table_schemas import DEFAULT_TPCH_TABLES, TPCH_TABLES
from deplat.sources import snowflake as source

STEP = "snowflake_to_bronze"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DEFAULT_TPCH_TABLES), 
                        help="comma-separated TPC-H tables")
    parser.add_argument("--chunk-keys", type=int, default=sf.DEFAULT_CHUNK_KEYS, help="keys per chunk")
    args = common.parse_args(parser, argv)
    tables = [t.strip().lower() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in tables if t not in TPCH_TABLES]
    if unknown:
        parser.error(f"unknown tables {unknown}; known: {sorted(TPCH_TABLES)}")

    spark = get_spark(STEP)
    state_path = common.table_path(args.lake, "_state", sf.STATE_TABLE)
    state = sf.read_state(spark, state_path)
    per_table = {}
    with source.connect(source.read_connection(args.env)) as conn:
        reader = source.SnowflakeReader(conn)
        for name in tables:
            spec = TPCH_TABLES[name]
            path = common.table_path(args.lake, "bronze", spec.bronze_table)
            sf.ensure_table(spark, path, sf.bronze_schema(spec), change_feed=True)
            rows = chunks = 0
            watermark = state.get(sf.extract_state_key(name))
            for chunk in reader.chunks(name, spec.chunk_key, args.chunk_keys, watermark):
                if chunk.rows:
                    df = common.add_ingest_metadata(
                        sf.chunk_frame(spark, spec, chunk.columns, chunk.rows), sf.SOURCE, args.batch_id)
                    sf.append_chunk(df, path, spec, chunk.range.high)
                sf.write_state(spark, state_path, sf.extract_state_key(name), chunk.range.high, args.batch_id)
                rows += len(chunk.rows)
                chunks += 1
            per_table[name] = {"rows": rows, "chunks": chunks}
    total = sum(t["rows"] for t in per_table.values())
    common.emit_metrics(STEP, read=total, written=total, rejected=0, tables=per_table)


if __name__ == "__main__":
    main()
