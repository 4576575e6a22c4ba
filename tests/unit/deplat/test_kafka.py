"""Kafka without a broker: the secret's connection (SASL never leaks), checkpoint offsets, bad events."""

import json
import random
from datetime import datetime, timezone

import pytest

from deplat.kafka import BAD_KINDS, CheckpointStore, committed_offsets, make_bad, make_event
from deplat_job.errors import ConfigError
from deplat_job.sources.kafka import KNOWN_CURRENCIES, KafkaConnection


def test_confluent_cloud_secret_gives_sasl_ssl_plain_for_spark_and_librdkafka():
    conn = KafkaConnection.from_json(json.dumps({
        "bootstrap_servers": "pkc-1.eu-west-1.aws.confluent.cloud:9092", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN", "sasl_username": "KEY", "sasl_password": 'pa"ss'}))
    opts = conn.spark_options()
    assert opts["kafka.security.protocol"] == "SASL_SSL" and opts["kafka.sasl.mechanism"] == "PLAIN"
    assert opts["kafka.sasl.jaas.config"].endswith('username="KEY" password="pa\\"ss";')
    assert conn.client_config()["sasl.password"] == 'pa"ss'
    assert 'pa"ss' not in repr(conn) and "KEY" not in repr(conn)


@pytest.mark.parametrize("value", ["not json", "[]", '{"security_protocol": "SASL_SSL"}',
                                   '{"bootstrap_servers": "b:9092", "security_protocol": "SASL_SSL"}'])
def test_unusable_secret_is_a_config_error_that_never_quotes_the_value(value):
    with pytest.raises(ConfigError) as err:
        KafkaConnection.from_json(value)
    assert value not in err.value.message


def test_local_connection_is_plaintext_without_credentials():
    conn = KafkaConnection("127.0.0.1:9092")
    assert conn.spark_options() == {"kafka.bootstrap.servers": "127.0.0.1:9092",
                                    "kafka.security.protocol": "PLAINTEXT"}


def test_committed_offsets_are_those_of_the_newest_committed_batch(tmp_path):
    cp = tmp_path / "cp"
    (cp / "offsets").mkdir(parents=True)
    (cp / "commits").mkdir()
    for batch, offs in ((0, {"0": 10, "1": 7}), (1, {"0": 20, "1": 9}), (2, {"0": 30, "1": 11})):
        (cp / "offsets" / str(batch)).write_text("v1\n" + json.dumps({"batchWatermarkMs": 0}) + "\n"
                                                  + json.dumps({"orders_events": offs}) + "\n")
    for batch in (0, 1):  # batch 2 is in flight: planned, not committed
        (cp / "commits" / str(batch)).write_text("v1\n{}\n")
    assert committed_offsets(CheckpointStore(str(cp))) == (1, {"orders_events": {0: 20, 1: 9}})
    assert committed_offsets(CheckpointStore(str(tmp_path / "none"))) == (None, {})


def test_events_are_consistent_and_each_bad_kind_breaks_the_contract():
    rng, now = random.Random(3), datetime.now(timezone.utc)
    event = make_event(rng, "o-1", now)
    assert round(sum(i["qty"] * i["price"] for i in event["items"]), 2) == event["total_amount"]
    assert event["currency"] in KNOWN_CURRENCIES
    for kind in BAD_KINDS:
        raw = make_bad(kind, event, rng)
        if kind == "not_json":
            with pytest.raises(ValueError):
                json.loads(raw)
            continue
        doc = json.loads(raw)
        assert doc != event, kind


def test_watermarks_wait_for_a_new_topics_leader_and_raise_other_errors(monkeypatch):
    # Right after CreateTopics the broker may answer NOT_LEADER_FOR_PARTITION (seen in CI): retried.
    import confluent_kafka
    from confluent_kafka import KafkaError, KafkaException

    from deplat import kafka

    answers = {0: [KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, (0, 5)],
               1: [(0, 7)], 2: [KafkaError.TOPIC_AUTHORIZATION_FAILED]}

    class Consumer:
        def __init__(self, config):
            pass

        def get_watermark_offsets(self, tp, timeout):
            answer = answers[tp.partition].pop(0)
            if isinstance(answer, tuple):
                return answer
            raise KafkaException(KafkaError(answer))

        def close(self):
            pass

    monkeypatch.setattr(confluent_kafka, "Consumer", Consumer)
    conn = type("Conn", (), {"client_config": lambda self: {}})()
    slept = []
    assert kafka.watermarks(conn, "t", [0, 1], sleep=slept.append) == {0: (0, 5), 1: (0, 7)}
    assert len(slept) == 2
    with pytest.raises(KafkaException):
        kafka.watermarks(conn, "t", [2], sleep=slept.append)
