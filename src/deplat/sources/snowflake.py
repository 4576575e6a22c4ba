"""Read Snowflake tables in key-range chunks with snowflake-connector-python.

The connection comes from the Secrets Manager secret `deplat/<env>/snowflake` (a JSON object of
connector arguments: account, user, password and, locally, host/port/protocol; database,
schema, warehouse, role). It is read inside the job and never logged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

CONNECT_FIELDS = ("account", "user", "password", "host", "port", "protocol", "database", "schema",
                  "warehouse", "role", "authenticator", "private_key_file")


@dataclass(frozen=True)
class KeyRange:
    """Keys in [low, high): the unit of extraction and of the resume watermark."""

    low: int
    high: int


@dataclass(frozen=True)
class Chunk:
    range: KeyRange
    columns: list[str]  # lower-case source column names
    rows: list[tuple[Any, ...]]


def secret_name(env: str) -> str:
    from deplat.sources.secret_store import secret_name as name

    return name(env, "snowflake")


def read_connection(env: str, client=None) -> dict[str, Any]:
    """The connector arguments stored in `deplat/<env>/snowflake` (boto3 honours AWS_ENDPOINT_URL)."""
    if client is None:
        from deplat.shared import job_client

        client = job_client("secretsmanager")
    name = secret_name(env)
    try:
        raw = client.get_secret_value(SecretId=name)["SecretString"]
    except client.exceptions.ResourceNotFoundException as exc:
        raise RuntimeError(f"secret {name} has no value: store the Snowflake connection JSON in it "
                           "(locally: `deplat local seed`)") from exc
    params = json.loads(raw)
    return {k: v for k, v in params.items() if k in CONNECT_FIELDS}


def connect(params: dict[str, Any]):
    import snowflake.connector

    return snowflake.connector.connect(
        **params,
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        login_timeout=60,
        network_timeout=300,
    )


def key_ranges(low: int, high: int, width: int) -> list[KeyRange]:
    """[low, high] (inclusive, as min/max) split into half-open ranges of `width` keys."""
    if width <= 0:
        raise ValueError("chunk width must be positive")
    return [KeyRange(start, min(start + width, high + 1)) for start in range(low, high + 1, width)]


class SnowflakeReader:
    """Chunked reads of one table; `conn` is a DB-API connection from `connect`."""

    def __init__(self, conn):
        self.conn = conn

    def bounds(self, table: str, key: str, after: int | None = None) -> tuple[int, int] | None:
        """(min, max) of `key`, only keys >= `after` when given; None when there are none."""
        sql = f"SELECT min({key}), max({key}) FROM {table}"
        params: tuple[Any, ...] = ()
        if after is not None:
            sql += f" WHERE {key} >= %s"
            params = (after,)
        cur = self.conn.cursor()
        try:
            low, high = cur.execute(sql, params).fetchone()
        finally:
            cur.close()
        return None if low is None else (int(low), int(high))

    def read(self, table: str, key: str, key_range: KeyRange) -> Chunk:
        cur = self.conn.cursor()
        try:
            cur.execute(f"SELECT * FROM {table} WHERE {key} >= %s AND {key} < %s ORDER BY {key}",
                        (key_range.low, key_range.high))
            columns = [d[0].lower() for d in cur.description]
            return Chunk(key_range, columns, [tuple(r) for r in cur.fetchall()])
        finally:
            cur.close()

    def chunks(self, table: str, key: str, width: int, after: int | None = None) -> Iterator[Chunk]:
        """Chunks of keys >= `after` (everything when None), in key order."""
        span = self.bounds(table, key, after)
        if span is None:
            return
        for key_range in key_ranges(span[0], span[1], width):
            yield self.read(table, key, key_range)
