"""What both sides import: the CLI (operator's Python 3.10+) and the jobs (EMR runtime's Python 3.9).

Standard library only at import time (botocore/boto3 inside the functions that need them), Python
3.9-compatible, and never typer, pydantic or rich: this module ships in the job package.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from deplat_job import __version__

# Delta Lake on Spark: the SQL extension and catalog (Delta docs, "Set up Apache Spark with Delta
# Lake"). The jobs' SparkSession and the EMR job run's sparkSubmitParameters both set these.
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
}

# botocore's "standard" retry mode: throttling, transient and 5xx errors retried with jittered
# exponential backoff (botocore docs, "Retries"); 8 attempts ~ up to a minute of backoff.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60


def is_loopback(url: str) -> bool:
    """True when the URL's host is localhost or a loopback address (127.0.0.0/8, ::1)."""
    return is_loopback_host(urlparse(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1; brackets allowed)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plaintext(what: str, hosts: Iterable[str], fix: str) -> None:
    """The one rule for plain-text transports (http, Kafka PLAINTEXT / SASL_PLAINTEXT): allowed
    only when every host is loopback (the local stand-ins), because credentials and data would
    otherwise cross a network unencrypted. Call it when the plain-text option was chosen.

    Raises ConfigError (exit 2) naming `what` and the first non-loopback host; an empty host list
    counts as not loopback (the client's default host is a remote service).
    """
    from deplat_job.errors import ConfigError

    hosts = list(hosts)
    remote = [h for h in hosts if not is_loopback_host(h)]
    if remote or not hosts:
        where = remote[0] if remote else "the service's default host"
        raise ConfigError(f"refusing {what} to {where}: plain text is allowed only to a loopback host", fix)


def client_config(side: str = "cli") -> Any:
    """The botocore Config every deplat client uses: standard retries, timeouts, user agent.

    `side` ("cli" or "job") only tags the user agent, so CloudTrail tells the two apart.
    """
    from botocore.config import Config

    return Config(
        retries={"mode": RETRY_MODE, "max_attempts": MAX_ATTEMPTS},
        user_agent_extra=f"deplat/{__version__} deplat-side/{side}",
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def job_client(service: str, **kwargs: Any) -> Any:
    """A boto3 client for code running inside a job, with the same retry settings as the CLI's.

    Credentials and region come from the job's environment (the EMR job role; locally the fake
    credentials and AWS_ENDPOINT_URL the engine exports, which boto3 honours since 1.28).
    """
    import boto3

    return boto3.client(service, config=client_config("job"), **kwargs)
