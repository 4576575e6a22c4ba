"""Plain-text transports carry credentials only to loopback stand-ins (one rule: deplat_job.shared.refuse_plaintext).

A secret or setting that turns Snowflake to `protocol: http`, Kafka to PLAINTEXT / SASL_PLAINTEXT, the
OpenLineage bearer key to `http://`, or Salesforce to `http://` is refused (ConfigError, exit 2)
before anything is sent, unless every host is loopback.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from deplat_job.errors import ConfigError, ExitCode
from deplat_job.shared import is_loopback_host, refuse_plaintext


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]", "LOCALHOST"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)
    refuse_plaintext("x", [host], "fix")


@pytest.mark.parametrize("hosts", [["example.com"], ["10.0.0.5"], ["127.0.0.1", "broker.internal"], [],
                                   ["localhost.evil.com"], ["0.0.0.0"]])
def test_anything_else_is_refused_with_exit_2(hosts):
    with pytest.raises(ConfigError) as err:
        refuse_plaintext("Widget over http", hosts, "use https")
    assert err.value.exit_code == ExitCode.USAGE and "Widget over http" in err.value.message


# --- Snowflake -----------------------------------------------------------------------------------

def _snowflake(params):
    from deplat_job.sources import snowflake

    return snowflake.check_transport(params)


@pytest.mark.parametrize("params", [
    {"account": "xy12345", "user": "u", "password": "p", "protocol": "http"},  # default host: Snowflake's
    {"account": "xy12345", "user": "u", "password": "p", "protocol": "http", "host": "xy12345.snowflakecomputing.com"},
    {"account": "a", "user": "u", "password": "p", "protocol": "HTTP", "host": "10.1.2.3", "port": 80},
])
def test_snowflake_http_to_a_remote_host_is_refused(params):
    with pytest.raises(ConfigError, match="Snowflake"):
        _snowflake(params)


@pytest.mark.parametrize("params", [
    {"account": "a", "user": "u", "password": "p"},  # https by default
    {"account": "a", "user": "u", "password": "p", "protocol": "https", "host": "a.snowflakecomputing.com"},
    {"account": "a", "user": "u", "password": "p", "protocol": "http", "host": "127.0.0.1", "port": 8000},
])
def test_snowflake_https_or_loopback_http_is_allowed(params):
    _snowflake(params)


def test_snowflake_connect_refuses_before_connecting(monkeypatch):
    import snowflake.connector

    from deplat_job.sources.snowflake import connect

    called = []
    monkeypatch.setattr(snowflake.connector, "connect", lambda **kw: called.append(kw))
    with pytest.raises(ConfigError):
        connect({"account": "a", "user": "u", "password": "secret-pw", "protocol": "http", "host": "db.example.com"})
    assert called == []


def test_snowflake_secret_with_http_is_refused_when_read():
    from deplat_job.sources.snowflake import read_connection

    class _Client:
        class exceptions:
            ResourceNotFoundException = KeyError

        def get_secret_value(self, SecretId):
            return {"SecretString": json.dumps({"account": "a", "user": "u", "password": "pw",
                                                "protocol": "http", "host": "sf.example.com"})}

    with pytest.raises(ConfigError) as err:
        read_connection("dev", _Client())
    assert "pw" not in str(err.value)


# --- Kafka ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT", "plaintext", "sasl_plaintext"])
def test_kafka_plaintext_to_a_remote_broker_is_refused(protocol):
    from deplat_job.sources.kafka import KafkaConnection

    value = {"bootstrap_servers": "127.0.0.1:9092,pkc-1.aws.confluent.cloud:9092", "security_protocol": protocol,
             "sasl_username": "KEY", "sasl_password": "SECRET"}
    with pytest.raises(ConfigError, match="Kafka") as err:
        KafkaConnection.from_json(json.dumps(value))
    assert "SECRET" not in str(err.value)
    with pytest.raises(ConfigError):
        KafkaConnection("broker.internal:9092", protocol)


def test_kafka_default_protocol_is_plaintext_so_a_bare_remote_broker_is_refused():
    from deplat_job.sources.kafka import KafkaConnection

    with pytest.raises(ConfigError):
        KafkaConnection.from_json(json.dumps({"bootstrap_servers": "b-1.msk.example.com:9092"}))


@pytest.mark.parametrize("servers", ["127.0.0.1:9092", "localhost:9092,127.0.0.2:9093", "[::1]:9092",
                                     "PLAINTEXT://127.0.0.1:9092"])
def test_kafka_plaintext_to_loopback_brokers_is_allowed(servers):
    from deplat_job.sources.kafka import KafkaConnection

    assert KafkaConnection(servers).spark_options()["kafka.security.protocol"] == "PLAINTEXT"


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SSL"])
def test_kafka_tls_to_a_remote_broker_is_allowed(protocol):
    from deplat_job.sources.kafka import KafkaConnection

    conn = KafkaConnection("pkc-1.aws.confluent.cloud:9092", protocol, sasl_username="K", sasl_password="S")
    assert conn.client_config()["security.protocol"] == protocol


# --- OpenLineage ---------------------------------------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.seen.append(self.headers.get("Authorization"))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_openlineage_bearer_key_over_http_to_a_remote_host_is_refused():
    from deplat.lineage import HttpTransport

    with pytest.raises(ConfigError, match="OpenLineage"):
        HttpTransport("http://marquez.example.com:5000", api_key="k-123")
    HttpTransport("https://marquez.example.com", api_key="k-123")  # TLS: fine
    HttpTransport("http://marquez.example.com:5000")  # no key to leak: fine


def test_openlineage_bearer_key_over_loopback_http_is_sent():
    from deplat.lineage import HttpTransport

    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        HttpTransport(f"http://127.0.0.1:{server.server_port}", api_key="k-123").emit({"eventType": "START"}, "b")
    finally:
        thread.join(10)
        server.server_close()
    assert _Recorder.seen == ["Bearer k-123"]


def test_the_run_emitter_refuses_the_env_key_over_http(monkeypatch, tmp_path):
    """emitter_for turns transport faults into warnings, but not this refusal: the run stops (exit 2)."""
    from types import SimpleNamespace

    from deplat.lineage import emitter_for

    warnings = []
    ctx = SimpleNamespace(settings=SimpleNamespace(lineage=SimpleNamespace(enabled=True, namespace="deplat")),
                          lake_uri=str(tmp_path), env=SimpleNamespace(name="dev"),
                          reporter=SimpleNamespace(warn=warnings.append))
    monkeypatch.setenv("OPENLINEAGE_URL", "http://lineage.example.com")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "k-123")
    monkeypatch.delenv("OPENLINEAGE_DISABLED", raising=False)
    with pytest.raises(ConfigError, match="OpenLineage"):
        emitter_for(ctx, "batch", "fx")


# --- Salesforce (the reader that had the rule first) ---------------------------------------------

@pytest.mark.parametrize("url", ["http://login.salesforce.com", "http://10.0.0.1:8080", "ftp://x"])
def test_salesforce_http_to_a_remote_host_is_refused(url):
    from deplat_job.sources.salesforce import SalesforceConfig, connect

    with pytest.raises(ConfigError, match="refusing"):
        connect(SalesforceConfig(login_url=url, client_id="c", client_secret="s", username="u", password="p"))
