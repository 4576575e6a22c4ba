"""Kafka source: the connection (from the `kafka` secret by name) and the order-event contract.

The secret (JSON) is `{"bootstrap_servers": "...", "security_protocol": "SASL_SSL",
"sasl_mechanism": "PLAIN", "sasl_username": "<api key>", "sasl_password": "<api secret>"}` for
Confluent Cloud, or `{"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}`
for the local broker (`deplat kafka topics` publishes that one). PLAINTEXT and SASL_PLAINTEXT are
refused unless every bootstrap server is loopback: events and the SASL password would travel in
clear text. The same settings feed Spark's
Kafka source (`kafka.`-prefixed consumer properties, JAAS for SASL/PLAIN) and confluent-kafka.

Python 3.9-compatible: the streaming job imports this on the EMR runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deplat_job.errors import ConfigError

# ISO 4217 codes an order may carry: EUR plus the currencies the ECB publishes reference rates for
# (silver.fx_rates can convert exactly these).
KNOWN_CURRENCIES = (
    "AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS",
    "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB",
    "TRY", "USD", "ZAR",
)

# The order event as producers send it (JSON, keyed by order_id). All top-level keys are required.
EVENT_FIELDS = ("event_id", "order_id", "customer_id", "items", "total_amount", "currency", "order_ts",
                "status")
ITEMS_DDL = "array<struct<sku:string,qty:int,price:decimal(18,2)>>"


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate (PLAINTEXT locally, SASL_SSL/PLAIN in the cloud)."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""

    def __repr__(self) -> str:  # never show credentials in logs or tracebacks
        return (f"KafkaConnection(bootstrap_servers={self.bootstrap_servers!r}, "
                f"security_protocol={self.security_protocol!r}, ...)")

    def __post_init__(self) -> None:
        from deplat_job.shared import refuse_plaintext

        if "PLAINTEXT" in self.security_protocol.upper():
            refuse_plaintext(f"Kafka {self.security_protocol.upper()}", _hosts(self.bootstrap_servers),
                             "use SASL_SSL (or SSL) in the kafka secret; PLAINTEXT is only for the local broker")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.upper().startswith("SASL")

    @classmethod
    def from_json(cls, text: str) -> KafkaConnection:
        """Parse the secret's value; ConfigError (never quoting the value) when it is unusable."""
        try:
            raw = json.loads(text)
        except ValueError:
            raw = None
        if not isinstance(raw, dict) or not raw.get("bootstrap_servers"):
            raise ConfigError("the Kafka secret is not a JSON object with bootstrap_servers",
                              'put {"bootstrap_servers": ..., "security_protocol": "SASL_SSL", '
                              '"sasl_username": ..., "sasl_password": ...}')
        conn = cls(**{k: str(v) for k, v in raw.items() if k in cls.__dataclass_fields__ and v is not None})
        if conn.uses_sasl and not (conn.sasl_username and conn.sasl_password):
            raise ConfigError("the Kafka secret selects SASL but lacks sasl_username/sasl_password",
                              "put the API key and secret into the `kafka` secret")
        return conn

    def client_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) settings."""
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.uses_sasl:
            conf.update({"sasl.mechanisms": self.sasl_mechanism, "sasl.username": self.sasl_username,
                         "sasl.password": self.sasl_password})
        return conf

    def spark_options(self) -> dict[str, str]:
        """Options for Spark's Kafka source (`kafka.` + Java consumer properties)."""
        opts = {"kafka.bootstrap.servers": self.bootstrap_servers,
                "kafka.security.protocol": self.security_protocol}
        if self.uses_sasl:
            user = self.sasl_username.replace("\\", "\\\\").replace('"', '\\"')
            password = self.sasl_password.replace("\\", "\\\\").replace('"', '\\"')
            opts.update({
                "kafka.sasl.mechanism": self.sasl_mechanism,
                "kafka.sasl.jaas.config": ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                                           f'username="{user}" password="{password}";'),
            })
        return opts


def _hosts(bootstrap_servers: str) -> list[str]:
    """Hosts of `host:port[,host:port]` (an optional `LISTENER://` prefix, IPv6 in brackets)."""
    hosts = []
    for server in bootstrap_servers.split(","):
        server = server.strip().rpartition("://")[2]
        if server.startswith("["):
            hosts.append(server[1:].partition("]")[0])
        elif server:
            hosts.append(server.rpartition(":")[0] if ":" in server else server)
    return hosts


def secret_name(env: str) -> str:
    """The secret's name by convention (Terraform's `secret_names.kafka`)."""
    from deplat_job.sources.secret_store import secret_name as name

    return name(env, "kafka")


def read_connection(name: str, client: Any = None) -> KafkaConnection:
    """Read the connection from Secrets Manager by name (AWS_ENDPOINT_URL is honoured)."""
    if client is None:
        from deplat_job.shared import job_client

        client = job_client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=name).get("SecretString") or ""
    except client.exceptions.ResourceNotFoundException as exc:
        raise ConfigError(f"secret '{name}' not found or empty",
                          "put the Kafka connection into it (`deplat secrets put kafka`); locally "
                          "`deplat kafka topics` publishes the local broker") from exc
    return KafkaConnection.from_json(value)
