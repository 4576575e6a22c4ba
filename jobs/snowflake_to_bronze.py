"""snowflake_to_bronze: extract Snowflake tables (TPC-H and config-declared) into lake/bronze/snowflake_<table>.

How each table's changes are found is declared in config (`snowflake.tables`, passed as
`--snowflake-tables`; without it, TPC-H on `rescan`): a `rescan` table is read in key-range chunks
laid out by its real key distribution (queries bounded by the row count); a `change_column` table
from bronze's maximum of that column minus its lookback. Bronze appends only rows that are new or
changed, so updates and late rows are picked up and a rerun appends nothing. Values are typed from
the source's declared types without loss; a row that does not type goes to lake/_errors/snowflake
with its reason. `read` is the rows the connector returned, `written` the bronze commits' own
counts, `rejected` the error rows, `skipped` the unchanged rows.
"""

from __future__ import annotations

from deplat_job.pipelines import common
from deplat_job.pipelines import snowflake as sf
from deplat_job.pipelines.session import get_spark
from deplat_job.pipelines.table_schemas import TPCH_TABLES
from deplat_job.sources import snowflake as source

STEP = "snowflake_to_bronze"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    sf.add_table_args(parser)
    parser.add_argument("--chunk-rows", "--chunk-keys", dest="chunk_rows", type=int, default=sf.DEFAULT_CHUNK_ROWS,
                        help="rows per chunk (key ranges follow the key distribution)")
    args = common.parse_args(parser, argv)
    tracking, tables = sf.selected_tables(parser, args)

    from delta.tables import DeltaTable

    spark = get_spark(STEP)
    per_table = {}
    with source.connect(source.read_connection(args.env)) as conn:
        reader = source.SnowflakeReader(conn)
        for name in tables:
            declared = tracking[name]
            spec = TPCH_TABLES.get(name)
            path = common.table_path(args.lake, "bronze", f"snowflake_{name}")
            exists = DeltaTable.isDeltaTable(spark, path)
            if spec is not None and not exists:
                sf.ensure_table(spark, path, sf.bronze_schema(spec), change_feed=True)
                exists = True
            since = None
            first_query = reader.queries
            if declared.mechanism == "change_column":
                if exists:
                    since = sf.lookback_start(sf.change_watermark(spark, path, declared.change_column),
                                              declared.lookback_seconds)
                chunks = reader.changed_since(name, declared.change_column, since, args.chunk_rows)
            else:
                chunks = reader.chunks(name, spec.chunk_key if spec else declared.key[0], args.chunk_rows)
            read = appended = unchanged = rejected = n_chunks = 0
            for chunk in chunks:
                n_chunks += 1
                if not chunk.rows:
                    continue
                if spec is None:
                    spec = sf.spec_from_source(name, declared.key, chunk.description)
                if not exists:
                    sf.ensure_table(spark, path, sf.bronze_schema(spec), change_feed=True)
                    exists = True
                read += len(chunk.rows)
                df, errors = sf.typed_chunk(spark, spec, chunk.columns, chunk.rows, chunk.description)
                if errors:
                    rejected += common.write_errors(sf.error_frame(spark, name, errors, args.batch_id),
                                                    args.lake, sf.SOURCE, args.batch_id)
                if len(errors) == len(chunk.rows):
                    continue
                result = sf.append_changed(common.add_ingest_metadata(df, sf.SOURCE, args.batch_id),
                                           path, spec, chunk.range)
                appended += result.appended
                unchanged += result.unchanged
            per_table[name] = {"read": read, "written": appended, "rejected": rejected, "skipped": unchanged,
                               "chunks": n_chunks, "queries": reader.queries - first_query,
                               "tracking": declared.mechanism,
                               **({"since": str(since)} if declared.mechanism == "change_column" else {})}
    common.emit_metrics(STEP, read=sum(t["read"] for t in per_table.values()),
                        written=sum(t["written"] for t in per_table.values()),
                        rejected=sum(t["rejected"] for t in per_table.values()),
                        skipped=sum(t["skipped"] for t in per_table.values()), tables=per_table)


if __name__ == "__main__":
    main()
