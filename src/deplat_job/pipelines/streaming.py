"""Kafka order events -> bronze.orders_events exactly once, malformed events -> the DLQ.

`checked_events` parses and validates one micro-batch of Kafka records (pure DataFrame ->
DataFrame); `valid_rows`/`rejected_rows` split it. `BatchWriter` is the foreachBatch function. Each
micro-batch is committed to both tables with Delta's idempotent-write options `txnAppId`/`txnVersion`
(= the batch id), so a batch that Spark re-runs after a crash (written to Delta, checkpoint commit
not yet written) is skipped by Delta. The app id is minted once per checkpoint and stored beside it
(`<checkpoint>/deplat_txn_app_id`). After a checkpoint reset the app id is new, so a second guard
applies: rows whose (topic, partition, offset) are already in the table are left out. It reads the
table only when the batch's offsets reach the table's high-water marks (see BatchWriter), so a
replay from the earliest offset adds nothing and a batch of new offsets reads neither table.

Python 3.9-compatible: runs on the EMR runtime.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from deplat_job.sources.kafka import EVENT_FIELDS, ITEMS_DDL, KNOWN_CURRENCIES

BRONZE_TABLE = "orders_events"
ERRORS_SOURCE = "kafka/orders_events"  # lake/_errors/kafka/orders_events
CHECKPOINT = "orders_events"  # lake/_checkpoints/orders_events
APP_ID_FILE = "deplat_txn_app_id"
KAFKA_COLUMNS = ("_kafka_topic", "_kafka_partition", "_kafka_offset")


def checkpoint_path(lake: str) -> str:
    return f"{lake.rstrip('/')}/_checkpoints/{CHECKPOINT}"


def bronze_path(lake: str) -> str:
    return f"{lake.rstrip('/')}/bronze/{BRONZE_TABLE}"


def errors_path(lake: str) -> str:
    return f"{lake.rstrip('/')}/_errors/{ERRORS_SOURCE}"


# Every top-level key parsed as text in ONE from_json (a JSON value of another type keeps its JSON
# text, as map<string,string> did); a record that is not a JSON object fills _corrupt_record.
EVENT_SCHEMA = ", ".join(f"`{k}` string" for k in EVENT_FIELDS) + ", `_corrupt_record` string"


def checked_events(records):
    """Kafka records (key, value, topic, partition, offset, timestamp) -> one row per record with the
    typed event fields, _kafka_key, _raw, _kafka_topic/_partition/_offset/_timestamp and _reason
    (NULL for a valid event, else why it is rejected).

    Types: total_amount/price decimal(18,2), order_ts timestamp, items array<struct<sku, qty, price>>.
    Reasons: `not JSON` (or not a JSON object), `missing key: <k>`, `wrong type: <k>`,
    `negative amount`, `unknown currency: <code>`; the first failing rule names the row.
    Persist the result before filtering it more than once: a filter on _reason pushed below this
    projection inlines the JSON parse into every rule (measured: ~10x the parse cost).
    """
    from pyspark.sql import functions as F

    doc = F.from_json(F.col("_raw"), EVENT_SCHEMA,
                      {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"})
    df = records.select(
        F.col("key").cast("string").alias("_kafka_key"), F.col("value").cast("string").alias("_raw"),
        F.col("topic").alias("_kafka_topic"), F.col("partition").alias("_kafka_partition"),
        F.col("offset").alias("_kafka_offset"), F.col("timestamp").alias("_kafka_timestamp"),
    ).withColumn("_doc", doc)
    m = F.col("_doc")
    typed = {
        "event_id": m["event_id"], "order_id": m["order_id"], "customer_id": m["customer_id"],
        "items": F.from_json(m["items"], ITEMS_DDL),
        "total_amount": F.when(m["total_amount"].rlike(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"),
                               m["total_amount"].cast("decimal(18,2)")),
        "currency": m["currency"],
        "order_ts": F.to_timestamp(m["order_ts"]),
        "status": m["status"],
    }
    df = df.select("*", *[expr.alias(name) for name, expr in typed.items()])

    reason = F.when(m.isNull() | m["_corrupt_record"].isNotNull(), F.lit("not JSON"))
    for key in EVENT_FIELDS:
        reason = reason.when(m[key].isNull(), F.lit(f"missing key: {key}"))
    for key in EVENT_FIELDS:
        reason = reason.when(F.col(key).isNull(), F.lit(f"wrong type: {key}"))
    bad_item = F.exists("items", lambda i: i["qty"].isNull() | i["price"].isNull() | i["sku"].isNull())
    negative = F.exists("items", lambda i: (i["qty"] <= 0) | (i["price"] < 0))
    reason = (reason.when(bad_item, F.lit("wrong type: items"))
              .when((F.col("total_amount") < 0) | negative, F.lit("negative amount"))
              .when(~F.col("currency").isin(*KNOWN_CURRENCIES),
                    F.concat(F.lit("unknown currency: "), F.col("currency"))))
    return df.withColumn("_reason", reason).drop("_doc")


def valid_rows(checked, batch_id: str):
    """The valid events of `checked_events`: the declared event fields, typed, plus _kafka_* provenance
    and ingest metadata (_ingest_ts, _source, _batch_id): bronze.orders_events' columns."""
    from pyspark.sql import functions as F

    return (checked.filter(F.col("_reason").isNull())
            .select(*EVENT_FIELDS, "_kafka_key", *KAFKA_COLUMNS, "_kafka_timestamp")
            .withColumn("_ingest_ts", F.current_timestamp())
            .withColumn("_source", F.lit("kafka"))
            .withColumn("_batch_id", F.lit(batch_id)))


def rejected_rows(checked, batch_id: str):
    """The rejected records of `checked_events`: reason, topic, partition, offset, timestamp, key,
    raw_value, batch_id, rejected_at (the DLQ's columns)."""
    from pyspark.sql import functions as F

    return checked.filter(F.col("_reason").isNotNull()).select(
        F.col("_reason").alias("reason"), F.col("_kafka_topic").alias("topic"),
        F.col("_kafka_partition").alias("partition"), F.col("_kafka_offset").alias("offset"),
        F.col("_kafka_timestamp").alias("timestamp"), F.col("_kafka_key").alias("key"),
        F.col("_raw").alias("raw_value"), F.lit(batch_id).alias("batch_id"),
        F.current_timestamp().alias("rejected_at"))


def split_events(records, batch_id: str):
    """Kafka records -> (valid, rejected): `valid_rows` and `rejected_rows` of `checked_events`
    (see there for types and reasons). Unpersisted: for a look at a few records, not for a batch."""
    checked = checked_events(records)
    return valid_rows(checked, batch_id), rejected_rows(checked, batch_id)


def read_or_mint_app_id(checkpoint: str) -> str:
    """The checkpoint's Delta txnAppId: minted on first use and stored with the checkpoint.

    Uses Hadoop's FileSystem through the active SparkSession so s3:// checkpoints work on EMR.
    """
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuntimeError("read_or_mint_app_id needs an active SparkSession")
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("read_or_mint_app_id: the SparkContext has no JVM gateway")
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint}/{APP_ID_FILE}")
    fs = path.getFileSystem(conf)
    if fs.exists(path):
        stream = fs.open(path)
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            return reader.readLine().strip()
        finally:
            stream.close()
    app_id = f"deplat-orders-events-{uuid.uuid4()}"
    out = fs.create(path, False)
    try:
        out.write(bytearray(app_id.encode()))
    finally:
        out.close()
    return app_id


@dataclass
class StreamCounts:
    """Counted per micro-batch, summed, each on its own: read = Kafka records; written/rejected = rows
    appended to bronze/the DLQ; skipped = records already there (a replay after `kafka
    reset-checkpoint`, a batch re-run after a crash). read == written + rejected + skipped is a check.
    guard_reads = micro-batches x tables in which the duplicate guard had to read the table (only when
    the batch's offsets reach the table's high-water mark); batch_seconds = wall time per micro-batch."""

    batches: int = 0
    read: int = 0
    written: int = 0
    rejected: int = 0
    skipped: int = 0
    guard_reads: int = 0
    batch_seconds: list = field(default_factory=list)

    def metrics(self) -> dict:
        """The counts as emit_metrics takes them (`skipped` is the run ledger's column), with the
        micro-batch wall times summarised (seconds: median, max)."""
        times = sorted(self.batch_seconds)
        median = times[len(times) // 2] if times else 0.0
        return {"read": self.read, "written": self.written, "rejected": self.rejected, "skipped": self.skipped,
                "batches": self.batches, "skipped_duplicates": self.skipped, "guard_reads": self.guard_reads,
                "batch_seconds_median": round(median, 3), "batch_seconds_max": round(times[-1] if times else 0.0, 3)}


def _window(bounds, cols):
    """A filter selecting (topic, partition, offset in [lo, hi]) for each (topic, partition, lo, hi)."""
    from pyspark.sql import functions as F

    window = None
    for topic, partition, lo, hi in bounds:
        cond = (F.col(cols[0]) == topic) & (F.col(cols[1]) == partition) & F.col(cols[2]).between(lo, hi)
        window = cond if window is None else (window | cond)
    return window


class BatchWriter:
    """The foreachBatch function: one idempotent append to bronze and one to the DLQ per batch.

    Per micro-batch: the records are parsed and checked once (cached), one aggregate counts them and
    takes their offset range per (topic, partition) and table, then each table gets its rows in one
    Delta append. The duplicate guard (rows whose (topic, partition, offset) a table already holds)
    compares the batch's offsets with that table's high-water marks, the largest offset it holds per
    (topic, partition): read once per run (one aggregate over the three offset columns) and kept up to
    date in memory after each append. Only rows at or below a mark can be in the table, so only a
    batch that reaches one (a replay after `kafka reset-checkpoint`, a batch re-run after a crash)
    reads the table, and then only that offset window (Delta's file statistics prune the rest).
    Assumes this stream is the only writer of new rows to the two tables while it runs.
    """

    def __init__(self, lake: str, app_id: str, batch_tag: str, counts: StreamCounts | None = None):
        self.lake = lake
        self.app_id = app_id
        self.batch_tag = batch_tag
        self.counts = counts or StreamCounts()
        self._marks: dict = {}  # table path -> {(topic, partition): largest offset in the table}

    def __call__(self, records, batch_id: int) -> None:
        import time

        from pyspark.sql import functions as F

        start = time.monotonic()
        tag = f"{self.batch_tag}-{batch_id}"
        checked = checked_events(records).persist()
        try:
            groups = (checked.groupBy("_kafka_topic", "_kafka_partition", F.col("_reason").isNull().alias("ok"))
                      .agg(F.count(F.lit(1)).alias("n"), F.min("_kafka_offset").alias("lo"),
                           F.max("_kafka_offset").alias("hi"))
                      .collect())
            read = sum(g["n"] for g in groups)
            written, known = self._land(valid_rows(checked, tag), bronze_path(self.lake), KAFKA_COLUMNS,
                                        [g for g in groups if g["ok"]], batch_id)
            bad, known_err = self._land(rejected_rows(checked, tag).coalesce(1), errors_path(self.lake),
                                        ("topic", "partition", "offset"), [g for g in groups if not g["ok"]],
                                        batch_id)
        finally:
            checked.unpersist()
        c = self.counts
        c.batches += 1
        c.read += read
        c.written += written
        c.rejected += bad
        c.skipped += known + known_err  # counted, not read - written - rejected
        c.batch_seconds.append(time.monotonic() - start)

    def _high_water_marks(self, spark, path: str, cols) -> dict:
        """{(topic, partition): largest offset} of the table at `path` ({} if none): read once per run."""
        if path not in self._marks:
            from delta.tables import DeltaTable
            from pyspark.sql import functions as F

            marks = {}
            if DeltaTable.isDeltaTable(spark, path):
                rows = (spark.read.format("delta").load(path).groupBy(cols[0], cols[1])
                        .agg(F.max(cols[2]).alias("hi")).collect())
                marks = {(r[cols[0]], r[cols[1]]): r["hi"] for r in rows}
            self._marks[path] = marks
        return self._marks[path]

    def _land(self, df, path: str, cols, groups, batch_id: int) -> tuple:
        """Append the rows of `df` the table lacks; (rows appended, rows it already held), both counted.

        groups: this batch's rows of `df` per (topic, partition): n, lo, hi (the offsets).
        """
        spark = df.sparkSession
        marks = self._high_water_marks(spark, path, cols)
        reach = [(g["_kafka_topic"], g["_kafka_partition"], g["lo"], min(g["hi"], marks[key]))
                 for g in groups
                 for key in [(g["_kafka_topic"], g["_kafka_partition"])] if key in marks and g["lo"] <= marks[key]]
        if reach:
            self.counts.guard_reads += 1
            held = spark.read.format("delta").load(path).filter(_window(reach, cols)).select(*cols)
            fresh = df.join(held, list(cols), "left_anti").persist()
            try:
                written, known = fresh.count(), df.join(held, list(cols), "left_semi").count()
                if written:
                    self._append(fresh, path, batch_id)
            finally:
                fresh.unpersist()
        else:
            written, known = sum(g["n"] for g in groups), 0  # no offset reaches the table's marks
            if written:
                self._append(df, path, batch_id)
        for g in groups:  # every offset up to hi is now in the table (appended or already held)
            key = (g["_kafka_topic"], g["_kafka_partition"])
            marks[key] = max(marks.get(key, -1), g["hi"])
        return written, known

    def _append(self, df, path: str, batch_id: int) -> None:
        """One Delta append, idempotent per (txnAppId, txnVersion = batch id): a batch Spark re-runs
        after a crash whose append already committed is skipped by Delta. An empty batch is not
        committed (a re-run of it is empty again: the same offsets give the same split)."""
        (df.write.format("delta").mode("append")
         .option("txnAppId", self.app_id).option("txnVersion", batch_id)
         .save(path))
