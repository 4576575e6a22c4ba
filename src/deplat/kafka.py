"""Kafka operations: produce order events, topics, stream lag, the dead-letter queue, checkpoint reset.

Locally the broker is the stack's KRaft node on 127.0.0.1 (PLAINTEXT); in the cloud the
connection (Confluent Cloud, SASL_SSL/PLAIN) comes from the `kafka` secret by name. Services here
return results or raise DeplatError; they never print (progress goes through a callback).
"""

from __future__ import annotations

import json
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DeplatError, InfraError, SafetyError
from deplat_job.sources.kafka import KafkaConnection, read_connection, secret_name

if TYPE_CHECKING:
    from deplat.core.context import Context

BAD_KINDS = ("not_json", "missing_key", "wrong_type", "negative_amount", "unknown_currency")
_CURRENCY_WEIGHTS = {"EUR": 40, "USD": 25, "GBP": 15, "CHF": 5, "JPY": 5, "SEK": 5, "PLN": 5}
_STATUSES = ("PLACED", "PAID", "SHIPPED")


class KafkaUnavailableError(InfraError):
    """The brokers did not answer (not started, wrong address, or credentials refused)."""


# --- connection ----------------------------------------------------------------------------------

def connection(ctx: Context) -> KafkaConnection:
    """The local broker for a local env; the `kafka` secret's connection otherwise."""
    if ctx.env.is_local:
        return KafkaConnection(f"127.0.0.1:{ctx.settings.local_stack.kafka_port}")
    return read_connection(secret_name(ctx.env.name), ctx.aws.client("secretsmanager"))


def publish_local_connection(ctx: Context) -> str:
    """Put the local broker's address (no credentials) into the local `kafka` secret, for the job."""
    from deplat_job.sources.secret_store import write_secret

    name = secret_name(ctx.env.name)
    value = {"bootstrap_servers": connection(ctx).bootstrap_servers, "security_protocol": "PLAINTEXT"}
    write_secret(ctx.aws.client("secretsmanager"), name, value, create=True)
    return name


def _admin(conn: KafkaConnection):
    from confluent_kafka.admin import AdminClient

    return AdminClient({**conn.client_config(), "log_level": 0})


def _metadata(conn: KafkaConnection, timeout: float = 10.0):
    from confluent_kafka import KafkaException

    try:
        return _admin(conn).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"Kafka at {conn.bootstrap_servers} did not answer: {exc}",
            "locally: `deplat local up kafka`; in the cloud: check the `kafka` secret") from None


# --- topics ----------------------------------------------------------------------------------------

@dataclass
class PartitionInfo:
    partition: int
    leader: int
    replicas: int
    earliest: int
    latest: int


@dataclass
class TopicInfo:
    topic: str
    created: bool
    partitions: list[PartitionInfo]

    @property
    def messages(self) -> int:
        return sum(p.latest - p.earliest for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "messages": self.messages}


def watermarks(conn: KafkaConnection, topic: str, partitions: list[int], wait_seconds: float = 30.0,
               sleep=time.sleep) -> dict[int, tuple[int, int]]:
    """partition -> (earliest, latest) offsets, from the brokers (a throwaway consumer, no group commit).

    Right after CreateTopics returns, a partition's leader may not be elected or known to the broker
    answering yet (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PART: Kafka's
    retriable errors); those are retried for up to `wait_seconds`, any other error is raised.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    retriable = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                 KafkaError.UNKNOWN_TOPIC_OR_PART}
    consumer = Consumer({**conn.client_config(), "group.id": f"deplat-watermarks-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "log_level": 0})
    deadline = time.monotonic() + wait_seconds
    marks: dict[int, tuple[int, int]] = {}
    try:
        for p in partitions:
            delay = 0.2
            while p not in marks:
                try:
                    marks[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                except KafkaException as exc:
                    if exc.args[0].code() not in retriable or time.monotonic() > deadline:
                        raise
                    sleep(delay)
                    delay = min(delay * 2, 2.0)
        return marks
    finally:
        consumer.close()


def ensure_topic(ctx: Context, topic: str | None = None) -> TopicInfo:
    """Create the topic with the configured partitions/replication if missing; describe it.

    Locally it also publishes the broker's address into the `kafka` secret (the job reads it).
    """
    from confluent_kafka.admin import NewTopic

    cfg = ctx.settings.kafka
    topic = topic or cfg.topic
    conn = connection(ctx)
    meta = _metadata(conn)
    created = False
    if topic not in meta.topics:
        admin = _admin(conn)  # keep a reference: a collected client cancels its futures
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=cfg.partitions, replication_factor=cfg.replication_factor)])
        try:
            futures[topic].result(30)
        except Exception as exc:  # noqa: BLE001 - KafkaException wraps the broker's error
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise DeplatError(f"creating topic {topic} failed: {exc}",
                                  "check partitions/replication_factor under `kafka:` in config/deplat.yaml") from None
        created = True
        meta = _metadata(conn)
    if ctx.env.is_local:
        publish_local_connection(ctx)
    return describe_topic(conn, meta, topic, created)


def describe_topic(conn: KafkaConnection, meta, topic: str, created: bool = False) -> TopicInfo:
    parts = meta.topics[topic].partitions
    marks = watermarks(conn, topic, sorted(parts))
    return TopicInfo(topic, created, [
        PartitionInfo(p, parts[p].leader, len(parts[p].replicas), *marks[p]) for p in sorted(parts)])


def list_topics(ctx: Context) -> list[TopicInfo]:
    """Every non-internal topic with its partitions and offsets (creates the configured one first)."""
    ensure_topic(ctx)
    conn = connection(ctx)
    meta = _metadata(conn)
    return [describe_topic(conn, meta, t) for t in sorted(meta.topics) if not t.startswith("__")]


# --- produce ----------------------------------------------------------------------------------------

@dataclass
class ProduceResult:
    topic: str
    requested: int
    produced: int
    failed: int
    bad: dict[str, int]
    duplicates: int
    seconds: float
    valid_order_ids: list[str] = field(default_factory=list, repr=False)
    bad_order_ids: list[str] = field(default_factory=list, repr=False)
    errors: list[str] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.produced / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("valid_order_ids", "bad_order_ids"):
            out.pop(key)
        out["events_per_second"] = round(self.events_per_second, 1)
        return out


def make_event(rng: random.Random, order_id: str, now: datetime) -> dict[str, Any]:
    """One realistic order event (the contract in deplat_job.sources.kafka)."""
    items: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 4)):
        qty, cents = rng.randint(1, 5), rng.randint(199, 19999)
        items.append({"sku": f"SKU-{rng.randint(1, 5000):05d}", "qty": qty, "price": f"{cents / 100:.2f}"})
    total = sum(int(round(float(i["price"]) * 100)) * int(i["qty"]) for i in items)
    currencies, weights = list(_CURRENCY_WEIGHTS), list(_CURRENCY_WEIGHTS.values())
    when = now - timedelta(seconds=rng.randint(0, 7 * 86400))
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "order_id": order_id,
        "customer_id": f"c-{rng.randint(1, 2000):05d}",
        "items": [{**i, "price": float(i["price"])} for i in items],
        "total_amount": total / 100,
        "currency": rng.choices(currencies, weights)[0],
        "order_ts": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "status": rng.choice(_STATUSES),
    }


def make_bad(kind: str, event: dict[str, Any], rng: random.Random) -> bytes:
    """A malformed variant of `event`: the kinds the stream must send to the DLQ."""
    bad = dict(event)
    if kind == "not_json":
        return ("{order_id: " + event["order_id"] + ", total_amount: ").encode()
    if kind == "missing_key":
        bad.pop(rng.choice(("customer_id", "currency", "total_amount", "order_ts")))
    elif kind == "wrong_type":
        key = rng.choice(("total_amount", "order_ts", "items"))
        bad[key] = {"total_amount": "twelve euros", "order_ts": "yesterday", "items": "n/a"}[key]
    elif kind == "negative_amount":
        bad["total_amount"] = -abs(event["total_amount"])
    elif kind == "unknown_currency":
        bad["currency"] = rng.choice(("XYZ", "BTC", "EURO"))
    else:
        raise ValueError(f"unknown bad kind {kind}")
    return json.dumps(bad).encode()


def produce(ctx: Context, num_orders: int, bad_ratio: float = 0.0, topic: str | None = None, duplicates: int = 0,
            seed: int | None = None, progress: Callable[[int, int], None] | None = None,
            until: datetime | None = None) -> ProduceResult:
    """Send `num_orders` order events keyed by order_id; round(num_orders * bad_ratio) are malformed.

    `duplicates` re-sends that many valid events unchanged (a producer-side duplicate).
    Delivery reports are awaited (flush); `progress(done, total)` is called as they arrive.
    Raises ConfigError for bad arguments, KafkaUnavailableError if the brokers do not answer.
    """
    import time

    from confluent_kafka import Producer

    if num_orders < 1:
        raise ConfigError("--num-orders must be at least 1")
    if not 0.0 <= bad_ratio <= 1.0:
        raise ConfigError("--bad-ratio must be between 0 and 1")
    info = ensure_topic(ctx, topic)
    conn = connection(ctx)
    rng = random.Random(seed)
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8] if seed is not None else uuid.uuid4().hex[:8]
    now = until or datetime.now(timezone.utc)  # events fall in the 7 days before it
    n_bad = round(num_orders * bad_ratio)
    bad_at = set(rng.sample(range(num_orders), n_bad))
    total = num_orders + min(duplicates, num_orders - n_bad)

    delivered, failures = 0, 0
    errors: list[str] = []

    def on_delivery(err, msg) -> None:
        nonlocal delivered, failures
        if err is None:
            delivered += 1
        else:
            failures += 1
            if len(errors) < 5:
                errors.append(str(err))
        if progress:
            progress(delivered + failures, total)

    producer = Producer({**conn.client_config(), "enable.idempotence": True, "acks": "all",
                         "linger.ms": 20, "log_level": 0})
    result = ProduceResult(info.topic, num_orders, 0, 0, {}, 0, 0.0)
    bad_counts: Counter[str] = Counter()
    valid_events: list[tuple[str, bytes]] = []
    start = time.monotonic()

    def send(key: str, value: bytes) -> None:
        while True:
            try:
                producer.produce(info.topic, key=key.encode(), value=value, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.1)
        producer.poll(0)

    for i in range(num_orders):
        order_id = f"o-{run}-{i:06d}"
        event = make_event(rng, order_id, now)
        if i in bad_at:
            kind = BAD_KINDS[len(result.bad_order_ids) % len(BAD_KINDS)]
            bad_counts[kind] += 1
            result.bad_order_ids.append(order_id)
            send(order_id, make_bad(kind, event, rng))
        else:
            value = json.dumps(event).encode()
            valid_events.append((order_id, value))
            result.valid_order_ids.append(order_id)
            send(order_id, value)
    for order_id, value in valid_events[:duplicates]:
        send(order_id, value)
        result.duplicates += 1
    remaining = producer.flush(60)
    result.seconds = time.monotonic() - start
    result.produced, result.failed = delivered, failures + remaining
    result.bad, result.errors = dict(bad_counts), errors
    if delivered == 0 and total:
        raise KafkaUnavailableError(f"no event was delivered to {conn.bootstrap_servers}: {errors[:1]}",
                                    "check the broker (`deplat local up kafka`) or the `kafka` secret")
    return result


# --- checkpoint, lag ------------------------------------------------------------------------------------

def _checkpoint(ctx: Context) -> str:
    from deplat_job.pipelines.streaming import checkpoint_path

    return checkpoint_path(ctx.lake_uri)


class CheckpointStore:
    """The files of a Structured Streaming checkpoint: a local folder, or s3://bucket/prefix via boto3."""

    def __init__(self, uri: str, s3: Any = None):
        self.uri = uri.rstrip("/")
        self._s3 = s3
        if self.uri.startswith("s3://"):
            self._bucket, _, prefix = self.uri[5:].partition("/")
            self._prefix = prefix + "/"

    @property
    def remote(self) -> bool:
        return self.uri.startswith("s3://")

    def files(self) -> list[str]:
        """Paths relative to the checkpoint root."""
        if not self.remote:
            root = Path(self.uri)
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        out: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix):
            out.extend(o["Key"][len(self._prefix):] for o in page.get("Contents", []))
        return sorted(out)

    def read(self, rel: str) -> str:
        if not self.remote:
            return (Path(self.uri) / rel).read_text()
        return self._s3.get_object(Bucket=self._bucket, Key=self._prefix + rel)["Body"].read().decode()

    def delete(self) -> None:
        if not self.remote:
            shutil.rmtree(self.uri, ignore_errors=True)
            return
        keys = [self._prefix + rel for rel in self.files()]
        for i in range(0, len(keys), 1000):
            self._s3.delete_objects(Bucket=self._bucket,
                                    Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


def _store(ctx: Context) -> CheckpointStore:
    uri = _checkpoint(ctx)
    return CheckpointStore(uri, ctx.aws.client("s3") if uri.startswith("s3://") else None)


def committed_offsets(store: CheckpointStore) -> tuple[int | None, dict[str, dict[int, int]]]:
    """(last committed batch id, {topic: {partition: next offset}}) from a Structured Streaming checkpoint.

    Spark writes `offsets/<batch>` before a batch runs and `commits/<batch>` after its sink
    committed; the offsets of the newest committed batch are where a restart resumes (file
    format: a version line, a metadata JSON line, then one JSON line per source).
    """
    files = store.files()
    commits = [int(f.split("/", 1)[1]) for f in files if f.startswith("commits/") and f.split("/", 1)[1].isdigit()]
    if not commits:
        return None, {}
    batch = max(commits)
    lines = store.read(f"offsets/{batch}").splitlines()
    offsets: dict[str, dict[int, int]] = {}
    for line in lines[2:]:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            for topic, parts in doc.items():
                offsets[topic] = {int(p): int(o) for p, o in parts.items()}
    return batch, offsets


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int


def lag(ctx: Context, topic: str | None = None) -> list[PartitionLag]:
    """Per partition: the stream's committed offset (checkpoint) vs the topic's end offset."""
    topic = topic or ctx.settings.kafka.topic
    conn = connection(ctx)
    meta = _metadata(conn)
    if topic not in meta.topics:
        raise ConfigError(f"topic {topic} does not exist", "create it: `deplat kafka topics`")
    marks = watermarks(conn, topic, sorted(meta.topics[topic].partitions))
    _, offsets = committed_offsets(_store(ctx))
    done = offsets.get(topic, {})
    out = []
    for p, (low, high) in sorted(marks.items()):
        committed = done.get(p)
        out.append(PartitionLag(topic, p, committed, high, high - (committed if committed is not None else low)))
    return out


# --- dead-letter queue ---------------------------------------------------------------------------------

@dataclass
class DlqResult:
    path: str
    total: int
    reasons: list[tuple[str, int]]
    records: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "total": self.total,
                "reasons": [{"reason": r, "count": n} for r, n in self.reasons], "records": self.records}


def dlq(ctx: Context, limit: int = 20, reason: str | None = None) -> DlqResult:
    """The stream's rejected events: counts per reason (most first), then up to `limit` records
    (newest first), optionally only reasons starting with `reason`.

    Read with DuckDB's delta extension: deltalake 1.6.6 + pyarrow aborted the interpreter at exit
    in about 1 run of 12 here ("terminate called without an active exception").
    """
    from deplat.query import duckdb_connect
    from deplat_job.pipelines.streaming import errors_path

    path = errors_path(ctx.lake_uri)
    if not path.startswith("s3://") and not (Path(path) / "_delta_log").is_dir():
        return DlqResult(path, 0, [], [])
    con = duckdb_connect()
    try:
        # delta_scan takes no prepared parameter; the path is ours, the reason filter is bound.
        src = f"(SELECT * FROM delta_scan('{path}') WHERE ? IS NULL OR starts_with(reason, ?))"
        reasons = [(r, int(n)) for r, n in con.execute(
            f"SELECT reason, count(*) AS n FROM {src} GROUP BY reason ORDER BY n DESC, reason",
            [reason, reason]).fetchall()]
        cur = con.execute(f"SELECT reason, topic, \"partition\", \"offset\", \"timestamp\", key, raw_value "
                          f"FROM {src} ORDER BY \"timestamp\" DESC, \"offset\" DESC LIMIT ?",
                          [reason, reason, limit])
        cols = [d[0] for d in cur.description]
        records = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    return DlqResult(path, sum(n for _, n in reasons), reasons, records)


# --- checkpoint reset ----------------------------------------------------------------------------------

@dataclass
class ResetResult:
    checkpoint: str
    exists: bool
    removed: bool
    files: int
    committed_batch: int | None
    committed: dict[str, dict[int, int]]
    restart_from: dict[int, int]  # partition -> offset (startingOffsets=earliest)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reset_checkpoint(ctx: Context, yes: bool = False, dry_run: bool = False, topic: str | None = None) -> ResetResult:
    """Delete the stream's checkpoint so the next run replays from the earliest retained offsets.

    Bronze is not duplicated by the replay: the stream skips (topic, partition, offset) rows already
    in bronze and in the DLQ. Refuses (SafetyError, exit 7) without `yes` unless `dry_run`.
    """
    topic = topic or ctx.settings.kafka.topic
    store = _store(ctx)
    files = store.files()
    batch, committed = committed_offsets(store)
    restart: dict[int, int] = {}
    try:
        conn = connection(ctx)
        meta = _metadata(conn, timeout=5)
        if topic in meta.topics:
            restart = {p: low for p, (low, _) in watermarks(conn, topic, sorted(meta.topics[topic].partitions)).items()}
    except KafkaUnavailableError:
        restart = {}
    result = ResetResult(store.uri, bool(files), False, len(files), batch, committed, restart)
    if dry_run:
        return result
    if not yes:
        raise SafetyError(f"resetting {store.uri} ({len(files)} files, last batch {batch}) needs --yes",
                          "see what would happen with --dry-run; the replay starts at the earliest offsets")
    if files:
        store.delete()
        result.removed = True
    return result
