"""Streaming throughput: events/s through kafka_orders_stream into bronze vs the producer alone.

On the local broker (`deplat local up kafka`): `deplat kafka produce`'s code sends N order events
(10 % malformed) to a fresh topic, delivery reports awaited: the producer-alone rate. Then the job
drains that topic with --available-now into a fresh lake (bronze + DLQ, exactly-once writes), in a
SparkSession started beforehand so JVM start-up is not counted: the stream rate. Rows written are
counted from the tables afterwards. Prints stream/producer last.
Usage: python benchmarks/stream_throughput.py [--events N] [--max-offsets-per-trigger N]
Run it under `flock /tmp/deplat-spark.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--max-offsets-per-trigger", type=int, default=5000)
    args = parser.parse_args()

    from deplat import kafka
    from deplat.config import load_settings
    from deplat.context import Context
    from deplat.local.jars import ensure_jars
    from deplat.pipelines.session import get_spark

    ctx = Context(settings=load_settings(ROOT / "config" / "deplat.yaml"))
    topic = f"orders_bench_{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(ctx, topic)
    produced = kafka.produce(ctx, args.events, bad_ratio=0.1, topic=topic, seed=42)
    producer_rate = produced.events_per_second
    print(f"producer: {produced.produced} events in {produced.seconds:.2f} s = {producer_rate:,.0f} events/s")

    spark = get_spark("stream-bench", master="local[2]", jars=ensure_jars())
    spark.range(1).count()  # JVM and session warm
    spec = importlib.util.spec_from_file_location("kafka_orders_stream", ROOT / "jobs" / "kafka_orders_stream.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        start = time.monotonic()
        job.main(["--lake", str(lake), "--topic", topic, "--bootstrap-servers", connection_of(kafka, ctx),
                  "--available-now", "--max-offsets-per-trigger", str(args.max_offsets_per_trigger)])
        seconds = time.monotonic() - start
        bronze = spark.read.format("delta").load(str(lake / "bronze" / "orders_events")).count()
        dlq = spark.read.format("delta").load(str(lake / "_errors" / "kafka" / "orders_events")).count()
    admin = kafka._admin(kafka.connection(ctx))
    admin.delete_topics([topic])[topic].result(30)  # the benchmark's topic is throwaway
    if bronze + dlq != produced.produced:
        raise SystemExit(f"counts disagree: bronze {bronze} + dlq {dlq} != produced {produced.produced}")
    stream_rate = (bronze + dlq) / seconds
    print(f"stream:   {bronze} to bronze + {dlq} to the DLQ in {seconds:.2f} s = {stream_rate:,.0f} events/s")
    print(f"ratio stream/producer: {stream_rate / producer_rate:.3f}")


def connection_of(kafka, ctx) -> str:
    return kafka.connection(ctx).bootstrap_servers


if __name__ == "__main__":
    main()
