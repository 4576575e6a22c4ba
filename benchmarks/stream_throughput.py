"""Streaming throughput: events/s through kafka_orders_stream into bronze vs the producer alone.

On the local broker (`deplat local up kafka`): `deplat kafka produce`'s code sends N order events
(10 % malformed) to a fresh topic, delivery reports awaited: the producer-alone rate. Then the job
drains that topic with --available-now into a fresh lake (bronze + DLQ, exactly-once writes), in a
SparkSession started beforehand so JVM start-up is not counted: the stream rate. Rows written are
counted from the tables afterwards. Prints stream/producer.

--sigkill then drains the same topic again into a second fresh lake as `deplat run kafka` does (the
job in a process of its own), SIGKILLs it while a micro-batch is in flight (its offsets written, its
commit not), reruns it to the end, and checks exactly-once by identity: bronze holds each valid
order_id once and nothing else, the DLQ each malformed one once (issue 21's must-show at 1,000,000).
Usage: python benchmarks/stream_throughput.py [--events N] [--bad-ratio R] [--max-offsets-per-trigger N]
       [--sigkill]
Run it under `flock /tmp/deplat-spark.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--bad-ratio", type=float, default=0.1, help="share of malformed events (DLQ)")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=5000)
    parser.add_argument("--sigkill", action="store_true",
                        help="then: kill the job mid-batch, rerun it, check exactly-once by order_id")
    args = parser.parse_args()

    from deplat import kafka
    from deplat.core.config import load_settings
    from deplat.core.context import Context
    from deplat.local.jars import ensure_jars
    from deplat_job.pipelines.session import get_spark

    ctx = Context(settings=load_settings(ROOT / "config" / "deplat.yaml"))
    topic = f"orders_bench_{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(ctx, topic)
    produced = kafka.produce(ctx, args.events, bad_ratio=args.bad_ratio, topic=topic, seed=42)
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
    if bronze + dlq != produced.produced:
        raise SystemExit(f"counts disagree: bronze {bronze} + dlq {dlq} != produced {produced.produced}")
    stream_rate = (bronze + dlq) / seconds
    print(f"stream:   {bronze} to bronze + {dlq} to the DLQ in {seconds:.2f} s = {stream_rate:,.0f} events/s")
    print(f"ratio stream/producer: {stream_rate / producer_rate:.3f}", flush=True)
    try:
        if args.sigkill:
            with tempfile.TemporaryDirectory() as tmp:
                exactly_once_after_sigkill(spark, Path(tmp), topic, connection_of(kafka, ctx), produced,
                                           args.max_offsets_per_trigger)
    finally:
        admin = kafka._admin(kafka.connection(ctx))
        admin.delete_topics([topic])[topic].result(30)  # the benchmark's topic is throwaway


def exactly_once_after_sigkill(spark, tmp: Path, topic: str, servers: str, produced, cap: int) -> None:
    """Drain `topic` in a job process, SIGKILL it mid-batch, rerun it; SystemExit unless exactly-once."""
    from deplat.local.jars import ensure_jars

    lake, log = tmp / "lake", tmp / "stream.log"
    checkpoint = lake / "_checkpoints" / "orders_events"
    env = {**os.environ, "DEPLAT_SPARK_MASTER": "local[2]", "DEPLAT_SPARK_JARS": ",".join(ensure_jars()),
           "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    cmd = [sys.executable, str(ROOT / "jobs" / "kafka_orders_stream.py"), "--lake", str(lake), "--topic", topic,
           "--bootstrap-servers", servers, "--available-now", "--max-offsets-per-trigger", str(cap)]

    def batches(kind: str) -> set[int]:
        folder = checkpoint / kind
        return {int(p.name) for p in folder.glob("*") if p.name.isdigit()} if folder.is_dir() else set()

    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)
    start, killed = time.monotonic(), None
    while killed is None and proc.poll() is None:  # after the 2nd commit, as soon as a batch is in flight
        in_flight = batches("offsets") - batches("commits")
        if len(batches("commits")) >= 2 and in_flight:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = max(in_flight)
        time.sleep(0.02)
    if killed is None:
        raise SystemExit(f"the stream ended before a batch could be killed in flight: {log.read_text()[-2000:]}")
    print(f"sigkill:  batch {killed} killed in flight after {time.monotonic() - start:.1f} s", flush=True)
    rerun = time.monotonic()
    with log.open("ab") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if code != 0:
        raise SystemExit(f"the rerun failed ({code}): {log.read_text()[-3000:]}")
    bronze = spark.read.format("delta").load(str(lake / "bronze" / "orders_events"))
    dlq = spark.read.format("delta").load(str(lake / "_errors" / "kafka" / "orders_events"))
    n_bronze, n_dlq = bronze.count(), dlq.count()
    bronze_ids = {r[0] for r in bronze.select("order_id").toLocalIterator()}
    dlq_ids = {r[0] for r in dlq.select("key").toLocalIterator()}
    valid, bad = set(produced.valid_order_ids), set(produced.bad_order_ids)
    print(f"rerun:    {time.monotonic() - rerun:.1f} s; bronze {n_bronze} rows ({len(bronze_ids)} distinct), "
          f"DLQ {n_dlq} rows ({len(dlq_ids)} distinct); produced {len(valid)} valid + {len(bad)} malformed")
    if not (n_bronze == len(bronze_ids) == len(valid) and bronze_ids == valid):
        raise SystemExit(f"bronze is not exactly the valid events: {len(valid - bronze_ids)} missing, "
                         f"{len(bronze_ids - valid)} foreign, {n_bronze - len(bronze_ids)} duplicated")
    if not (n_dlq == len(dlq_ids) == len(bad) and dlq_ids == bad):
        raise SystemExit(f"the DLQ is not exactly the malformed events: {len(bad - dlq_ids)} missing, "
                         f"{len(dlq_ids - bad)} foreign, {n_dlq - len(dlq_ids)} duplicated")
    print("exactly-once after SIGKILL: holds (bronze = valid events, DLQ = malformed events, each once)")


def connection_of(kafka, ctx) -> str:
    return kafka.connection(ctx).bootstrap_servers


if __name__ == "__main__":
    main()
