"""Declarations of the local services. Adding one (Kafka, fakesnow, ...) is one Service(...) here."""

from __future__ import annotations

import shutil
import socket
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deplat.core.config import LocalStackSettings
from deplat.core.proc import run
from deplat_job.errors import LocalStackError


@dataclass(frozen=True)
class Paths:
    root: Path  # .deplat/stack (Settings.stack_dir)

    def data(self, name: str) -> Path:
        return self.root / name

    def pid(self, name: str) -> Path:
        return self.root / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"


@dataclass(frozen=True)
class Service:
    """A process the local stack runs: how to prepare, start, check and stop it."""

    name: str
    port: Callable[[LocalStackSettings], int]
    command: Callable[[Paths, LocalStackSettings], list[str]]
    healthy: Callable[[Paths, LocalStackSettings], bool]
    prepare: Callable[[Paths, LocalStackSettings], None] | None = None
    description: str = ""
    stop_signal: int = 15  # SIGTERM
    start_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return 200 <= resp.status < 300
    except OSError:
        return False


# --- moto (AWS APIs) ---------------------------------------------------------------------------

EMR_STANDIN_DIR = "emr-serverless"  # the EMR Serverless stand-in's runs, under .deplat/stack/


def _moto_cmd(paths: Paths, s: LocalStackSettings) -> list[str]:
    """moto with the EMR Serverless stand-in (real Spark behind the EMR API), always: local jobs
    run through EmrServerlessEngine against it."""
    return [sys.executable, "-m", "deplat.local.standins.moto_launcher", str(s.moto_port),
            "--emr-standin", str(paths.data(EMR_STANDIN_DIR))]


MOTO = Service(
    name="moto",
    description="AWS APIs (S3, Glue, KMS, ...) on loopback; EMR Serverless = the stand-in running real Spark",
    port=lambda s: s.moto_port,
    command=_moto_cmd,
    # The dashboard, not data.json: data.json dumps every model and answers 500 for good once the
    # Terraform AWS provider has called iam:GetUser with fake keys (moto 5.2 "default_user" bug).
    healthy=lambda p, s: http_ok(f"http://127.0.0.1:{s.moto_port}/moto-api/"),
)


# --- PostgreSQL (the RDS stand-in, with logical decoding for DMS-style CDC) ---------------------

def pg_bin(tool: str) -> str:
    found = shutil.which(tool)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"PostgreSQL tool '{tool}' not found (apt-get install postgresql)")


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; sessions and CI run as root.
    import os

    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def postgres_blocked_dirs(root: Path) -> list[Path]:
    """Directories above the state folder (`root` = the stack folder) that other users, so `postgres`
    (the server's user when deplat runs as root), cannot traverse: no o+x. deplat never changes them."""
    return [p for p in root.resolve().parent.parents if not p.stat().st_mode & 0o001]


def _pg_prepare(paths: Paths, s: LocalStackSettings) -> None:
    import os

    data = paths.data("postgres")
    if (data / "PG_VERSION").is_file():
        return
    if os.geteuid() == 0:
        blocked = postgres_blocked_dirs(paths.root)
        if blocked:
            dirs = " ".join(str(p) for p in blocked)
            raise LocalStackError(
                f"PostgreSQL runs as the 'postgres' user, which cannot reach {data}: no search (x) "
                f"permission for others on {dirs}",
                f"allow traversal (`chmod o+x {dirs}`), or set DEPLAT_STACK_DIR (or DEPLAT_HOME) to a folder "
                "postgres can reach; deplat changes permissions only inside its own state folder")
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # Inside the state folder only: the data directory belongs to postgres, its parent is traversable.
        for folder in (paths.root.parent, paths.root):
            folder.chmod(folder.stat().st_mode | 0o001)
        shutil.chown(data, "postgres", "postgres")
    run(_as_postgres([pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
        timeout=120, what=f"initdb of the PostgreSQL data directory {data}", hint="see the initdb output below")


def _pg_cmd(paths: Paths, s: LocalStackSettings) -> list[str]:
    data = str(paths.data("postgres"))
    return _as_postgres([
        pg_bin("postgres"), "-D", data, "-p", str(s.postgres_port), "-k", data,
        "-c", "listen_addresses=127.0.0.1", "-c", "wal_level=logical",
        "-c", "max_replication_slots=8", "-c", "max_wal_senders=8", "-c", "fsync=off",
    ])


POSTGRES = Service(
    name="postgres",
    description="PostgreSQL (RDS stand-in, wal_level=logical for CDC)",
    port=lambda s: s.postgres_port,
    command=_pg_cmd,
    healthy=lambda p, s: port_open(s.postgres_port),
    prepare=_pg_prepare,
    stop_signal=2,  # SIGINT = PostgreSQL's fast shutdown
)


# --- fakesnow (the Snowflake stand-in, persistent under .deplat/stack/snowflake) ---------------

def _snowflake_port(s: LocalStackSettings) -> int:
    return s.snowflake_port


def _snowflake_cmd(paths: Paths, s: LocalStackSettings) -> list[str]:
    return [sys.executable, "-m", "deplat.local.standins.snowflake_server", "--port", str(_snowflake_port(s)),
            "--db-path", str(paths.data("snowflake"))]


SNOWFLAKE = Service(
    name="snowflake",
    description="Snowflake stand-in (fakesnow server mode, DuckDB files; seed with TPC-H)",
    port=_snowflake_port,
    command=_snowflake_cmd,
    healthy=lambda p, s: port_open(_snowflake_port(s)),
    prepare=lambda p, s: p.data("snowflake").mkdir(parents=True, exist_ok=True),
)


# --- Salesforce REST stand-in (the one hand-written stand-in: no emulator exists) ---------------

def _salesforce_port(s: LocalStackSettings) -> int:
    return s.salesforce_port


def _salesforce_cmd(paths: Paths, s: LocalStackSettings) -> list[str]:
    from deplat.local.scale import recorded_scale, source_sizes

    sizes = source_sizes(recorded_scale(paths.root))  # the org `deplat local seed --scale` asked for
    return [sys.executable, "-m", "deplat.local.standins.salesforce_server", "--port", str(_salesforce_port(s)),
            "--accounts", str(sizes.sf_accounts), "--opportunities", str(sizes.sf_opportunities)]


SALESFORCE = Service(
    name="salesforce",
    description="Salesforce REST stand-in (OAuth, SOQL query/queryAll/queryMore, sObject DML)",
    port=_salesforce_port,
    command=_salesforce_cmd,
    healthy=lambda p, s: http_ok(f"http://127.0.0.1:{_salesforce_port(s)}/services/data/"),
)


# --- Kafka (Apache Kafka 4.x, KRaft combined node, from its Maven Central jars) -----------------

def _kafka_healthy(p: Paths, s: LocalStackSettings) -> bool:
    from deplat.local.standins.kafka_broker import metadata_ok

    return port_open(s.kafka_port) and metadata_ok(f"127.0.0.1:{s.kafka_port}")


def _kafka_prepare(p: Paths, s: LocalStackSettings) -> None:
    from deplat.local.standins.kafka_broker import prepare

    prepare(p.data("kafka"), s)


def _kafka_cmd(p: Paths, s: LocalStackSettings) -> list[str]:
    from deplat.local.standins.kafka_broker import command

    return command(p.data("kafka"), s)


KAFKA = Service(
    name="kafka",
    description="Apache Kafka 4.x broker (KRaft, jars from Maven Central; health = metadata request)",
    port=lambda s: s.kafka_port,
    command=_kafka_cmd,
    healthy=_kafka_healthy,
    prepare=_kafka_prepare,
    start_timeout=90.0,
)


SERVICES: dict[str, Service] = {svc.name: svc for svc in (MOTO, POSTGRES, SNOWFLAKE, SALESFORCE, KAFKA)}
