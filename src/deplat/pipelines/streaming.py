"""Kafka order events -> bronze.orders_events exactly once, malformed events -> the DLQ.

`split_events` validates one micro-batch of Kafka records (pure DataFrame -> DataFrames).
`BatchWriter` is the foreachBatch function. Each micro-batch is committed to both tables with
Delta's idempotent-write options `txnAppId`/`txnVersion` (= the batch id), so a batch that Spark
re-runs after a crash (written to Delta, checkpoint commit not yet written) is skipped by Delta.
The app id is minted once per checkpoint and stored beside it (`<checkpoint>/deplat_txn_app_id`).
After a checkpoint reset the app id is new, so a second guard applies: rows whose
(topic, partition, offset) are already in the table are left out (an anti-join over the batch's
offset range). A replay from the earliest offset therefore adds nothing.

Python 3.9-compatible: runs on the EMR runtime.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from deplat.sources.kafka import EVENT_FIELDS, ITEMS_DDL, KNOWN_CURRENCIES

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


def split_events(records, batch_id: str):
    """Kafka records (key, value, topic, partition, offset, timestamp) -> (valid, rejected).

    valid: the declared event fields, typed (total_amount/price decimal(18,2), order_ts timestamp,
    items array<struct<sku, qty, price>>), plus _kafka_* provenance and ingest metadata.
    rejected: reason, topic, partition, offset, timestamp, key, raw_value, batch_id, rejected_at.
    Reasons: `not JSON` (or not a JSON object), `missing key: <k>`, `wrong type: <k>`,
    `negative amount`, `unknown currency: <code>`; the first failing rule names the row.
    """
    from pyspark.sql import functions as F

    raw = F.col("_raw")
    doc = F.from_json(raw, "map<string,string>")
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

    reason = F.when(m.isNull(), F.lit("not JSON"))
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
    checked = df.withColumn("_reason", reason)

    valid = (checked.filter(F.col("_reason").isNull())
             .select(*EVENT_FIELDS, "_kafka_key", *KAFKA_COLUMNS, "_kafka_timestamp")
             .withColumn("_ingest_ts", F.current_timestamp())
             .withColumn("_source", F.lit("kafka"))
             .withColumn("_batch_id", F.lit(batch_id)))
    rejected = checked.filter(F.col("_reason").isNotNull()).select(
        F.col("_reason").alias("reason"), F.col("_kafka_topic").alias("topic"),
        F.col("_kafka_partition").alias("partition"), F.col("_kafka_offset").alias("offset"),
        F.col("_kafka_timestamp").alias("timestamp"), F.col("_kafka_key").alias("key"),
        F.col("_raw").alias("raw_value"), F.lit(batch_id).alias("batch_id"),
        F.current_timestamp().alias("rejected_at"))
    return valid, rejected


def read_or_mint_app_id(checkpoint: str) -> str:
    """The checkpoint's Delta txnAppId: minted on first use and stored with the checkpoint.

    Uses Hadoop's FileSystem through the active SparkSession so s3:// checkpoints work on EMR.
    """
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    jvm = spark.sparkContext._jvm
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
    reset-checkpoint`, a batch re-run after a crash). read == written + rejected + skipped is a check."""

    batches: int = 0
    read: int = 0
    written: int = 0
    rejected: int = 0
    skipped: int = 0

    def metrics(self) -> dict:
        """The counts as emit_metrics takes them (`skipped` is the run ledger's column)."""
        return {"read": self.read, "written": self.written, "rejected": self.rejected, "skipped": self.skipped,
                "batches": self.batches, "skipped_duplicates": self.skipped}


def _offset_bounds(df, cols=KAFKA_COLUMNS):
    """[(topic, partition, min offset, max offset)] of the rows in `df`."""
    from pyspark.sql import functions as F

    rows = df.groupBy(cols[0], cols[1]).agg(F.min(cols[2]).alias("lo"), F.max(cols[2]).alias("hi")).collect()
    return [(r[cols[0]], r[cols[1]], r["lo"], r["hi"]) for r in rows]


def _new_rows(df, path: str, bounds, cols=KAFKA_COLUMNS):
    """(rows of `df` the Delta table at `path` lacks, rows it already holds), by (topic, partition, offset)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    spark = df.sparkSession
    if not bounds or not DeltaTable.isDeltaTable(spark, path):
        return df, df.limit(0)
    window = None
    for topic, partition, lo, hi in bounds:
        cond = ((F.col(cols[0]) == topic) & (F.col(cols[1]) == partition)
                & F.col(cols[2]).between(lo, hi))
        window = cond if window is None else (window | cond)
    known = spark.read.format("delta").load(path).filter(window).select(*cols)
    return df.join(known, list(cols), "left_anti"), df.join(known, list(cols), "left_semi")


class BatchWriter:
    """The foreachBatch function: one idempotent append to bronze and one to the DLQ per batch."""

    def __init__(self, lake: str, app_id: str, batch_tag: str, counts: StreamCounts | None = None):
        self.lake = lake
        self.app_id = app_id
        self.batch_tag = batch_tag
        self.counts = counts or StreamCounts()

    def __call__(self, records, batch_id: int) -> None:
        records = records.persist()
        try:
            read = records.count()
            valid, rejected = split_events(records, f"{self.batch_tag}-{batch_id}")
            valid, rejected = valid.persist(), rejected.persist()
            fresh, known = _new_rows(valid, bronze_path(self.lake), _offset_bounds(valid))
            fresh = fresh.persist()
            err_cols = ("topic", "partition", "offset")
            fresh_err, known_err = _new_rows(rejected, errors_path(self.lake), _offset_bounds(rejected, err_cols),
                                             err_cols)
            fresh_err = fresh_err.persist()
            written, bad = fresh.count(), fresh_err.count()
            skipped = known.count() + known_err.count()  # counted, not read - written - rejected
            # Always commit (even an empty batch) so txnVersion advances with every batch id.
            self._append(fresh, bronze_path(self.lake), batch_id)
            self._append(fresh_err, errors_path(self.lake), batch_id)
            c = self.counts
            c.batches += 1
            c.read += read
            c.written += written
            c.rejected += bad
            c.skipped += skipped
            for df in (fresh, fresh_err, valid, rejected):
                df.unpersist()
        finally:
            records.unpersist()

    def _append(self, df, path: str, batch_id: int) -> None:
        (df.write.format("delta").mode("append")
         .option("txnAppId", self.app_id).option("txnVersion", batch_id)
         .save(path))
