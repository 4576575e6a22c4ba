"""The local RDS stand-in (PostgreSQL): its one connection wrapper, seeding, CDC slot, sample changes.

- Database `rds`, schema `app` with `customers` and `orders` filled from a fixed seed (same seed,
  same rows), and the logical replication slot (test_decoding) the DMS capture reads.
- `connect` is the one way deplat opens a connection to it (session in UTC, ISO dates, so the
  text forms the capture writes are the ones the DMS reader types).

Idempotent: tables are filled only when empty, the slot is created only when missing.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from deplat.core.config import LocalStackSettings
from deplat_job.errors import LocalStackError

if TYPE_CHECKING:
    from deplat.core.context import Context

DATABASE = "rds"
SLOT = "deplat_dms"
PLUGIN = "test_decoding"
SEED = 11

DDL = """
CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.customers (
    customer_id  integer PRIMARY KEY,
    name         text NOT NULL,
    email        text,
    country      text,
    credit_limit numeric(12,2),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS app.orders (
    order_id     bigint PRIMARY KEY,
    customer_id  integer NOT NULL REFERENCES app.customers (customer_id),
    status       text NOT NULL,
    amount       numeric(12,2) NOT NULL,
    order_date   date NOT NULL,
    updated_at   timestamptz NOT NULL
);
"""

_COUNTRIES = ["US", "DE", "FR", "GB", "JP", "CH", "CA", "AU", "NL", "SE"]
_STATUSES = ["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]
_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass
class SeedResult:
    database: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows inserted now (0: already seeded)
    slot: str = SLOT
    slot_created: bool = False
    replaced: bool = False  # the tables held another size and were refilled (a new DMS full load is due)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def conninfo(settings: LocalStackSettings, dbname: str = DATABASE) -> str:
    """libpq connection string for the local PostgreSQL (trust auth, loopback)."""
    return f"host=127.0.0.1 port={settings.postgres_port} user=postgres dbname={dbname} connect_timeout=5"


def rds_secret(settings: LocalStackSettings) -> dict[str, Any]:
    """The stand-in's credentials as the RDS/DMS secret JSON (deplat_job.sources.rds reads it). Trust
    auth on loopback: the password is a placeholder the server never checks."""
    return {"engine": "postgres", "host": "127.0.0.1", "port": settings.postgres_port, "dbname": DATABASE,
            "username": "postgres", "password": "local-trust-auth"}


def seed_secret(ctx: Context) -> dict[str, str]:
    """Store the stand-in's credentials as `deplat/<env>/rds` (moto's Secrets Manager locally), for
    the dms_key_snapshot job. Returns {"secret_name", "secret_action"}."""
    from deplat_job.sources.secret_store import secret_name, write_secret

    name = secret_name(ctx.env.name, "rds")
    action = write_secret(ctx.aws.client("secretsmanager"), name, rds_secret(ctx.settings.local_stack), create=True)[0]
    return {"secret_name": name, "secret_action": action}


def connect(dsn: str, autocommit: bool = False):
    """A psycopg connection to the local PostgreSQL, session in UTC with ISO dates.

    Raises LocalStackError (with the fix) when the server cannot be reached.
    """
    import psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        port = psycopg.conninfo.conninfo_to_dict(dsn).get("port")
        raise LocalStackError(f"cannot connect to the local PostgreSQL (the RDS stand-in) on port {port}",
                              "run `deplat local up`, then `deplat local status`", detail=str(exc)) from exc
    conn.execute("SET TimeZone = 'UTC'")  # test_decoding and ::text print timestamptz in this zone
    conn.execute("SET DateStyle = 'ISO, YMD'")
    if not autocommit:
        conn.commit()
    return conn


def ensure_database(settings: LocalStackSettings, dbname: str = DATABASE) -> bool:
    """Create the database if missing (CREATE DATABASE cannot run inside a transaction)."""
    with connect(conninfo(settings, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{dbname}"')
        return True


def seed_rows(seed: int = SEED, customers: int = 200, orders: int = 1000):
    """The deterministic rows: (customers, orders) as lists of tuples in column order."""
    rng = random.Random(seed)
    cust_rows = []
    for cid in range(1, customers + 1):
        created = _START + timedelta(seconds=rng.randrange(300 * 24 * 3600))
        cust_rows.append((cid, f"Customer {cid:04d}", f"customer{cid:04d}@example.com",
                          rng.choice(_COUNTRIES), round(rng.uniform(500, 50_000), 2), created, created))
    order_rows = []
    for oid in range(1, orders + 1):
        cid, _, _, _, _, created, _ = rng.choice(cust_rows)
        ordered = created + timedelta(days=rng.randrange(0, 60))
        order_rows.append((oid, cid, rng.choice(_STATUSES), round(rng.uniform(5, 2_000), 2), ordered.date(),
                           ordered + timedelta(hours=rng.randrange(48))))
    return cust_rows, order_rows


def seed_postgres(settings: LocalStackSettings, seed: int = SEED, customers: int = 200,
                  orders: int = 1000) -> dict[str, int]:
    """Create schema + tables and fill them when empty; returns rows inserted per table.

    Tables seeded at another size (`app.customers` holds a count other than `customers`: the sample
    changes never insert or delete customers) are replaced: the CDC slot is dropped first, so the
    replacement is a new full load, not a stream of changes (seed_rds creates the slot again)."""
    ensure_database(settings)
    customer_rows, order_rows = seed_rows(seed, customers, orders)
    inserted = {}
    with connect(conninfo(settings)) as conn:
        conn.execute(DDL)
        held = conn.execute("SELECT count(*) FROM app.customers").fetchone()[0]
        if held and held != len(customer_rows):
            conn.commit()
            drop_slot(settings, SLOT)
            conn.execute("TRUNCATE app.orders, app.customers")
            inserted["replaced"] = 1
        for table, columns, rows in (
            ("app.customers", "customer_id, name, email, country, credit_limit, created_at, updated_at",
             customer_rows),
            ("app.orders", "order_id, customer_id, status, amount, order_date, updated_at", order_rows),
        ):
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                inserted[table] = 0
                continue
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            inserted[table] = len(rows)
    return inserted


def ensure_slot(settings: LocalStackSettings, slot: str = SLOT, plugin: str = PLUGIN) -> bool:
    """Create the logical replication slot if missing, in its own transaction; True if created."""
    with connect(conninfo(settings), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
            return False
        conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (slot, plugin))
        return True


def drop_slot(settings: LocalStackSettings, slot: str) -> bool:
    """Drop a slot (an unconsumed slot keeps WAL forever); True if it existed."""
    with connect(conninfo(settings), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
            return False
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        return True


def seed_rds(settings: LocalStackSettings, seed: int = SEED, customers: int = 200,
             orders: int = 1000) -> SeedResult:
    """Seed PostgreSQL: schema, rows (when empty or of another size) and the CDC slot (when missing)."""
    rows = seed_postgres(settings, seed, customers, orders)
    replaced = bool(rows.pop("replaced", 0))
    created = ensure_slot(settings)
    return SeedResult(DATABASE, rows, SLOT, created, replaced)


def apply_sample_changes(settings: LocalStackSettings, seed: int = SEED, n: int = 10) -> dict[str, int]:
    """A deterministic burst of inserts, updates and deletes, for demos and the end-to-end run.

    Each call changes different rows (ids above the current maximum are inserted; existing rows are
    updated and a few orders deleted), so the next DMS capture has I, U and D to write.
    """
    now = datetime.now(timezone.utc)
    counts = {"I": 0, "U": 0, "D": 0}
    with connect(conninfo(settings)) as conn:
        next_id = conn.execute("SELECT coalesce(max(order_id), 0) + 1 FROM app.orders").fetchone()[0]
        rng = random.Random(seed * 1_000_003 + next_id)
        cust_ids = [r[0] for r in conn.execute("SELECT customer_id FROM app.customers ORDER BY 1")]
        order_ids = [r[0] for r in conn.execute("SELECT order_id FROM app.orders ORDER BY 1")]
        if not cust_ids or not order_ids:
            raise LocalStackError("the RDS stand-in is not seeded", "run the source seeding first")
        # One executemany per kind (psycopg pipelines it): a burst of ~1,000,000 changes stays minutes.
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO app.orders VALUES (%s, %s, 'NEW', %s, %s, %s)",
                            [(next_id + i, rng.choice(cust_ids), round(rng.uniform(5, 500), 2), date.today(), now)
                             for i in range(n)])
            counts["I"] += n
            shipped = rng.sample(order_ids, min(n, len(order_ids)))
            cur.executemany("UPDATE app.orders SET status = 'SHIPPED', updated_at = %s WHERE order_id = %s",
                            [(now, oid) for oid in shipped])
            counts["U"] += len(shipped)
            raised = rng.sample(cust_ids, min(max(1, n // 5), len(cust_ids)))
            cur.executemany("UPDATE app.customers SET credit_limit = credit_limit + 100, updated_at = %s "
                            "WHERE customer_id = %s", [(now, cid) for cid in raised])
            counts["U"] += len(raised)
            gone = rng.sample(order_ids, min(max(1, n // 5), len(order_ids)))
            cur.execute("DELETE FROM app.orders WHERE order_id = ANY(%s)", (gone,))
            counts["D"] += cur.rowcount
    return counts
