"""The streaming pipeline on the real local Kafka broker: produce, `deplat run kafka`, DLQ, exactly-once
under SIGKILL, checkpoint reset without duplicates, producer duplicates -> one silver.orders row.

Uses the stack's broker (one per session) and a fresh lake in tmp. Unique topics keep the fault
test's exact counts independent of other events. ~3 min on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[4]
DEPLAT = str(Path(sys.executable).with_name("deplat"))
JOB = ROOT / "jobs" / "kafka_orders_stream.py"


def _ctx():
    from deplat.core.config import load_settings
    from deplat.core.context import Context

    return Context(settings=load_settings(ROOT / "config" / "deplat.yaml", environ={}))


def _delta(path: Path) -> list[dict]:
    # DuckDB, not deltalake: deltalake 1.6.6 + pyarrow sometimes abort the interpreter at exit.
    from deplat.query import duckdb_connect

    if not (path / "_delta_log").is_dir():
        return []
    con = duckdb_connect()
    try:
        cur = con.execute(f"SELECT * FROM delta_scan('{path}')")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _topic_messages(topic: str) -> int:
    from deplat import kafka

    ctx = _ctx()
    conn = kafka.connection(ctx)
    meta = kafka._metadata(conn)
    marks = kafka.watermarks(conn, topic, sorted(meta.topics[topic].partitions))
    return sum(hi - lo for lo, hi in marks.values())


def _drop_topic(topic: str) -> None:
    from deplat import kafka

    admin = kafka._admin(kafka.connection(_ctx()))
    admin.delete_topics([topic])[topic].result(30)


# --- `deplat run kafka` on the default topic, with a fresh lake -----------------------------------------

@pytest.fixture(scope="module")
def run_env(tmp_path_factory, local_stack):
    lake = tmp_path_factory.mktemp("lake")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    env["DEPLAT_LAKE_URI"] = str(lake)

    def deplat(*args, check=True, timeout=900):
        proc = subprocess.run([DEPLAT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"deplat {' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    if not (ROOT / ".deplat" / "local" / "outputs.json").is_file():
        deplat("infra", "apply", "--yes")
    deplat("deploy", "--no-deps-archive")
    return {"lake": lake, "deplat": deplat}


@pytest.fixture(scope="module")
def first_run(run_env):
    deplat = run_env["deplat"]
    produced = json.loads(deplat("-o", "json", "kafka", "produce", "--num-orders", "500", "--bad-ratio", "0.1",
                                 "--duplicates", "5").stdout)
    run = json.loads(deplat("-o", "json", "run", "kafka", "--wait").stdout)
    return {"produced": produced, "run": run}


def test_produce_reports_every_delivery_and_the_bad_kinds(first_run):
    p = first_run["produced"]
    assert (p["produced"], p["failed"], p["duplicates"]) == (505, 0, 5)
    assert sum(p["bad"].values()) == 50
    assert set(p["bad"]) == {"not_json", "missing_key", "wrong_type", "negative_amount", "unknown_currency"}


def test_bronze_holds_every_valid_event_once_and_the_dlq_the_rest(run_env, first_run):
    lake = run_env["lake"]
    topic_total = _topic_messages("orders_events")
    bronze, dlq = _delta(lake / "bronze" / "orders_events"), _delta(lake / "_errors" / "kafka" / "orders_events")
    # Everything the topic holds landed exactly once, in bronze or in the DLQ.
    assert len(bronze) + len(dlq) == topic_total
    offsets = [(r["_kafka_partition"], r["_kafka_offset"]) for r in bronze]
    offsets += [(r["partition"], r["offset"]) for r in dlq]
    assert len(set(offsets)) == len(offsets)
    assert all(r["reason"] for r in dlq)
    # Counted metrics agree with the tables.
    [metrics] = [m for m in first_run["run"]["metrics"] if m["step"] == "kafka_orders_stream"]
    assert (metrics["read"], metrics["written"], metrics["rejected"]) == (topic_total, len(bronze), len(dlq))


def test_this_runs_order_ids_split_exactly_into_bronze_and_dlq(run_env, first_run):
    lake = run_env["lake"]
    bronze, dlq = _delta(lake / "bronze" / "orders_events"), _delta(lake / "_errors" / "kafka" / "orders_events")
    tag = _run_tag(bronze + [{"order_id": r["key"]} for r in dlq], first_run)
    mine_bronze = [r["order_id"] for r in bronze if r["order_id"].startswith(tag)]
    mine_dlq = [r for r in dlq if (r["key"] or "").startswith(tag)]
    assert len(set(mine_bronze)) == 450 and len(mine_bronze) == 455  # 5 producer duplicates, each its own record
    assert len(mine_dlq) == 50 and not set(mine_bronze) & {r["key"] for r in mine_dlq}
    reasons = {r["reason"].split(":")[0] for r in mine_dlq}
    assert reasons == {"not JSON", "missing key", "wrong type", "negative amount", "unknown currency"}
    assert all(r["topic"] == "orders_events" and r["raw_value"] and r["timestamp"] for r in mine_dlq)


def _run_tag(rows, first_run) -> str:
    # Order ids are o-<run>-<n>; this run's tag is the one with 505 records.
    from collections import Counter

    tags = Counter("-".join((r["order_id"] or "").split("-")[:2]) for r in rows)
    tag, n = tags.most_common(1)[0]
    assert n >= 505
    return tag + "-"


def test_cli_lag_is_zero_and_dlq_lists_reason_counts_first(run_env, first_run):
    deplat = run_env["deplat"]
    lags = json.loads(deplat("-o", "json", "kafka", "lag").stdout)
    assert lags and all(x["lag"] == 0 and x["committed"] == x["end"] for x in lags)
    dlq = json.loads(deplat("-o", "json", "kafka", "dlq", "--limit", "3", "--reason", "not JSON").stdout)
    assert dlq["reasons"][0]["reason"] == "not JSON" and len(dlq["records"]) == 3
    assert dlq["total"] == dlq["reasons"][0]["count"] >= 10


def test_reset_checkpoint_refuses_without_yes_and_a_replay_adds_nothing(run_env, first_run):
    deplat, lake = run_env["deplat"], run_env["lake"]
    before = (len(_delta(lake / "bronze" / "orders_events")), len(_delta(lake / "_errors" / "kafka" / "orders_events")))
    refused = deplat("kafka", "reset-checkpoint", check=False)
    assert refused.returncode == 7, refused.stderr
    assert (lake / "_checkpoints" / "orders_events" / "commits").is_dir()
    dry = json.loads(deplat("-o", "json", "kafka", "reset-checkpoint", "--dry-run").stdout)
    assert dry["exists"] and not dry["removed"] and dry["files"] > 0
    assert set(dry["restart_from"]) == {"0", "1", "2"}  # JSON keys; the earliest offset per partition
    done = json.loads(deplat("-o", "json", "kafka", "reset-checkpoint", "--yes").stdout)
    assert done["removed"] and not (lake / "_checkpoints" / "orders_events").exists()

    replay = json.loads(deplat("-o", "json", "run", "kafka", "--wait").stdout)
    [metrics] = [m for m in replay["metrics"] if m["step"] == "kafka_orders_stream"]
    after = (len(_delta(lake / "bronze" / "orders_events")), len(_delta(lake / "_errors" / "kafka" / "orders_events")))
    assert after == before
    assert metrics["read"] == sum(before) and metrics["written"] == metrics["rejected"] == 0
    assert metrics["skipped_duplicates"] == metrics["skipped"] == sum(before)  # read = written + rejected + skipped


def test_producer_duplicate_gives_one_row_in_silver_orders(spark, run_env, first_run):
    from deplat_job.pipelines import orders as op

    bronze = spark.read.format("delta").load(str(run_env["lake"] / "bronze" / "orders_events"))
    dup_ids = [r["order_id"] for r in bronze.groupBy("order_id").count().filter("count > 1").collect()]
    assert len(dup_ids) >= 5
    silver = op.kafka_orders(bronze).orders
    distinct_bronze = bronze.select("order_id").distinct().count()
    assert silver.count() == silver.select("order_id").distinct().count() == distinct_bronze
    assert silver.filter(silver.order_id.isin([f"kafka-{i}" for i in dup_ids])).count() == len(dup_ids)


# --- exactly once under SIGKILL, on a topic of its own ----------------------------------------------------

def _job_env() -> dict[str, str]:
    from deplat.local.jars import ensure_jars

    return {**os.environ, "DEPLAT_SPARK_MASTER": "local[2]", "DEPLAT_SPARK_JARS": ",".join(ensure_jars()),
            "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}


def _start_stream(lake: Path, topic: str, log: Path, *extra: str, cap: int = 150) -> subprocess.Popen:
    cmd = [sys.executable, str(JOB), "--lake", str(lake), "--topic", topic, "--bootstrap-servers",
           "127.0.0.1:9092", "--max-offsets-per-trigger", str(cap), "--trigger-seconds", "1", *extra]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_job_env(), cwd=ROOT,
                                start_new_session=True)


def _batches(checkpoint: Path, kind: str) -> set[int]:
    folder = checkpoint / kind
    return {int(p.name) for p in folder.glob("*") if p.name.isdigit()} if folder.is_dir() else set()


def _kill_mid_batch(proc: subprocess.Popen, checkpoint: Path, after_commits: int, timeout: float = 240) -> int:
    """SIGKILL the stream while a micro-batch is in flight (its offsets written, its commit not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the stream exited on its own"
        commits, offsets = _batches(checkpoint, "commits"), _batches(checkpoint, "offsets")
        in_flight = offsets - commits
        if len(commits) >= after_commits and in_flight:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return max(in_flight)
        time.sleep(0.05)
    raise AssertionError("no micro-batch was in flight before the timeout")


def test_sigkill_mid_ingestion_twice_loses_and_duplicates_nothing(tmp_path, local_stack):
    from deplat import kafka

    ctx = _ctx()
    topic = f"orders_fault_{uuid.uuid4().hex[:8]}"
    lake, log = tmp_path / "lake", tmp_path / "stream.log"
    checkpoint = lake / "_checkpoints" / "orders_events"
    results: list = []
    stop = threading.Event()

    def produce_until_stopped() -> None:
        seed = 100
        while not stop.is_set():
            results.append(kafka.produce(ctx, 50, bad_ratio=0.1, topic=topic, seed=seed))
            seed += 1
            stop.wait(1.0)

    kafka.ensure_topic(ctx, topic)
    producer = threading.Thread(target=produce_until_stopped)
    producer.start()
    producing_at_kill = []
    try:
        stream = _start_stream(lake, topic, log)
        killed = [_kill_mid_batch(stream, checkpoint, after_commits=1)]
        producing_at_kill.append(producer.is_alive())
        stream = _start_stream(lake, topic, log)
        killed.append(_kill_mid_batch(stream, checkpoint, after_commits=len(_batches(checkpoint, "commits")) + 1))
        producing_at_kill.append(producer.is_alive())
    finally:
        stop.set()
        producer.join()
    final = _start_stream(lake, topic, log, "--available-now", cap=100000)
    assert final.wait(timeout=300) == 0, log.read_text()[-3000:]
    print("killed in flight: batches", killed, [ln for ln in log.read_text().splitlines() if "DEPLAT_METRICS" in ln])

    valid = {o for r in results for o in r.valid_order_ids}
    bad = {o for r in results for o in r.bad_order_ids}
    produced = sum(r.produced for r in results)
    assert producing_at_kill == [True, True] and len(killed) == 2
    assert produced == 50 * len(results) == _topic_messages(topic) and produced >= 500
    bronze = _delta(lake / "bronze" / "orders_events")
    dlq = _delta(lake / "_errors" / "kafka" / "orders_events")
    assert len(bronze) == len(valid) and {r["order_id"] for r in bronze} == valid
    assert len(dlq) == len(bad) and {r["key"] for r in dlq} == bad
    _drop_topic(topic)  # one broker for the whole session: leave it as we found it
