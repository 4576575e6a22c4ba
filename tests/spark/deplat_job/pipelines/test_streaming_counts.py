"""The stream's counts keep read = written + rejected + skipped (issue 25 item 4) after `kafka
reset-checkpoint` (a new txn app id replays from the earliest offset) and after a crash (Spark re-runs
the batch whose checkpoint commit was not written), each count counted on its own."""

import io
import json
from contextlib import redirect_stdout
from datetime import datetime, timezone

from deplat.kafka import make_event


def test_the_job_emits_skipped_the_ledger_column():
    from deplat_job.pipelines.common import METRICS_PREFIX, emit_metrics
    from deplat_job.pipelines.streaming import StreamCounts

    out = io.StringIO()
    with redirect_stdout(out):
        emit_metrics("kafka_orders_stream", **StreamCounts(1, 10, 0, 0, 10).metrics(), topic="t")
    record = json.loads(out.getvalue()[len(METRICS_PREFIX):])
    assert (record["read"], record["written"], record["rejected"], record["skipped"]) == (10, 0, 0, 10)


def _records(spark):
    import random

    rng, now = random.Random(3), datetime(2026, 1, 1, tzinfo=timezone.utc)
    values = [json.dumps(make_event(rng, f"o-{i}", now)).encode() for i in range(5)] + [b"not json", b"[1]"]
    rows = [(f"k{i}".encode(), v, "t", i % 2, i, now) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset long, "
                                       "timestamp timestamp")


def _ledger(counts):
    assert counts.read == counts.written + counts.rejected + counts.skipped, counts
    return counts.read, counts.written, counts.rejected, counts.skipped


def test_replay_after_reset_and_rerun_after_a_crash_keep_the_ledger(spark, tmp_path):
    from deplat_job.pipelines.streaming import BatchWriter, bronze_path

    lake = str(tmp_path / "lake")
    first = BatchWriter(lake, "app-a", "b1")
    first(_records(spark), 0)
    assert _ledger(first.counts) == (7, 5, 2, 0)

    after_reset = BatchWriter(lake, "app-b", "b2")  # kafka reset-checkpoint: a new app id, from earliest
    after_reset(_records(spark), 0)
    assert _ledger(after_reset.counts) == (7, 0, 0, 7)

    rerun = BatchWriter(lake, "app-a", "b1")  # crash: the same batch of the same checkpoint again
    rerun(_records(spark), 0)
    assert _ledger(rerun.counts) == (7, 0, 0, 7)
    assert spark.read.format("delta").load(bronze_path(lake)).count() == 5


def test_a_batch_of_new_offsets_reads_neither_table_a_replay_reads_both(spark, tmp_path):
    """The duplicate guard reads bronze/the DLQ only when a batch's offsets reach what they hold."""
    from pyspark.sql import functions as F

    from deplat_job.pipelines.streaming import BatchWriter, bronze_path, errors_path

    lake = str(tmp_path / "lake")
    batch = _records(spark)
    later = batch.withColumn("offset", F.col("offset") + 100)  # the next offsets of the same partitions
    writer = BatchWriter(lake, "app-a", "b1")
    writer(batch, 0)
    writer(later, 1)
    assert _ledger(writer.counts) == (14, 10, 4, 0) and writer.counts.guard_reads == 0

    replay = BatchWriter(lake, "app-b", "b2")  # after a checkpoint reset: the same offsets again
    replay(batch, 0)
    assert _ledger(replay.counts) == (7, 0, 0, 7) and replay.counts.guard_reads == 2
    assert spark.read.format("delta").load(bronze_path(lake)).count() == 10
    assert spark.read.format("delta").load(errors_path(lake)).count() == 4
    assert len(replay.counts.batch_seconds) == 1 and replay.counts.metrics()["batch_seconds_max"] > 0
