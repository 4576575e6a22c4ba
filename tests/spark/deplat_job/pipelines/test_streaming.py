"""The stream's validation of one micro-batch: each malformed kind the producer makes gets its reason."""

import json
import random
from datetime import datetime, timezone

from deplat.kafka import BAD_KINDS, make_bad, make_event


def _records(spark, values):
    rows = [(f"k{i}".encode(), v, "t", i % 3, i, datetime(2026, 1, 1, tzinfo=timezone.utc))
            for i, v in enumerate(values)]
    return spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset long, "
                                       "timestamp timestamp")


def test_valid_events_are_typed_and_each_bad_kind_is_rejected_with_its_reason(spark):
    from deplat_job.pipelines.streaming import split_events

    rng, now = random.Random(7), datetime.now(timezone.utc)
    good = [make_event(rng, f"o-{i}", now) for i in range(3)]
    bad = {kind: make_bad(kind, make_event(rng, f"b-{kind}", now), rng) for kind in BAD_KINDS}
    values = [json.dumps(e).encode() for e in good] + list(bad.values()) + [b'{"order_id": null}', b"[1, 2]"]
    valid, rejected = split_events(_records(spark, values), "b1")

    rows = {r["order_id"]: r for r in valid.collect()}
    assert set(rows) == {"o-0", "o-1", "o-2"}
    first = rows["o-0"]
    assert str(first["total_amount"]) == f"{good[0]['total_amount']:.2f}"
    assert sum(i["qty"] * i["price"] for i in first["items"]) == first["total_amount"]
    assert first["order_ts"] is not None and first["_kafka_topic"] == "t" and first["_batch_id"] == "b1"

    reasons = [r["reason"] for r in rejected.orderBy("offset").collect()]
    assert reasons[0] == "not JSON"
    assert reasons[1].startswith("missing key: ")
    assert reasons[2].startswith("wrong type: ")
    assert reasons[3] == "negative amount"
    assert reasons[4].startswith("unknown currency: ")
    assert reasons[5] == "missing key: event_id"
    assert reasons[6] == "not JSON"  # a JSON array is not an event object
    raw = rejected.filter("offset = 3").first()
    assert raw["raw_value"] == bad["not_json"].decode() and raw["key"] == "k3" and raw["partition"] == 0
