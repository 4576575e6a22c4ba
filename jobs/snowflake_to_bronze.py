"""snowflake_to_bronze: extract TPC-H tables from Snowflake into lake/bronze/snowflake_<table>.

Each table is read in key-range chunks laid out by its real key distribution (queries bounded by
the row count); bronze appends only rows that are new or changed (source_specs.SNOWFLAKE_TRACKING),
so updates and late rows are picked up and a rerun appends nothing. `read` is the rows the
connector returned, `written` the bronze commits' own counts, `skipped` the unchanged rows.
"""

from __future__ import annotations

from deplat.pipelines import common
from deplat.pipelines import snowflake as sf
from deplat.pipelines.session import get_spark
from deplat.pipelines.source_specs import SNOWFLAKE_TRACKING
from deplat.pipelines.table_schemas import DEFAULT_TPCH_TABLES, TPCH_TABLES
from deplat.sources import snowflake as source

STEP = "snowflake_to_bronze"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DEFAULT_TPCH_TABLES),
                        help="comma-separated TPC-H tables")
    parser.add_argument("--chunk-rows", "--chunk-keys", dest="chunk_rows", type=int, default=sf.DEFAULT_CHUNK_ROWS,
                        help="rows per chunk (key ranges follow the key distribution)")
    args = common.parse_args(parser, argv)
    tables = [t.strip().lower() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in tables if t not in TPCH_TABLES or t not in SNOWFLAKE_TRACKING]
    if unknown:
        parser.error(f"unknown tables {unknown}; known: {sorted(TPCH_TABLES)}")

    spark = get_spark(STEP)
    per_table = {}
    with source.connect(source.read_connection(args.env)) as conn:
        reader = source.SnowflakeReader(conn)
        for name in tables:
            spec = TPCH_TABLES[name]
            path = common.table_path(args.lake, "bronze", spec.bronze_table)
            sf.ensure_table(spark, path, sf.bronze_schema(spec), change_feed=True)
            read = appended = unchanged = chunks = 0
            first_query = reader.queries
            for chunk in reader.chunks(name, spec.chunk_key, args.chunk_rows):
                chunks += 1
                if not chunk.rows:
                    continue
                read += len(chunk.rows)
                df = common.add_ingest_metadata(
                    sf.chunk_frame(spark, spec, chunk.columns, chunk.rows), sf.SOURCE, args.batch_id)
                result = sf.append_changed(df, path, spec, chunk.range)
                appended += result.appended
                unchanged += result.unchanged
            per_table[name] = {"read": read, "written": appended, "skipped": unchanged, "chunks": chunks,
                               "queries": reader.queries - first_query,
                               "tracking": SNOWFLAKE_TRACKING[name].mechanism}
    common.emit_metrics(STEP, read=sum(t["read"] for t in per_table.values()),
                        written=sum(t["written"] for t in per_table.values()), rejected=0,
                        skipped=sum(t["skipped"] for t in per_table.values()), tables=per_table)


if __name__ == "__main__":
    main()
