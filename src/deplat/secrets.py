"""Source credentials in the platform's Secrets Manager secrets (Terraform creates them empty).

Values arrive on stdin or from a file, never on argv (shell history, `ps`), and are never logged,
printed or returned: results carry names, key names and version ids only. Names, the required keys
and the one writer live in `deplat_job.sources.secret_store`, which the jobs import too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DeplatError, ExitCode
from deplat_job.sources.secret_store import SOURCES, missing_keys, read_secret, secret_name, write_secret

if TYPE_CHECKING:
    from deplat.core.context import Context


class SecretCheckError(DeplatError):
    """`secrets check` found the secret unusable (missing, bad keys, or the connection failed)."""

    exit_code = ExitCode.USAGE


@dataclass
class SecretInfo:
    source: str
    name: str
    has_value: bool
    last_changed: str | None = None
    version_id: str | None = None
    action: str | None = None  # put: created | updated | unchanged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    source: str
    name: str
    keys: list[str]  # key names present (never values)
    missing: list[str]
    connected: bool | None = None  # None: --connect not asked
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and self.connected is not False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _name(ctx: Context, source: str) -> str:
    if source not in SOURCES:
        raise ConfigError(f"unknown secret '{source}'", f"choose one of: {', '.join(SOURCES)}")
    # The name Terraform gave it (`secret_names` output: `<project>/<env>/<source>`), else the default.
    applied = (ctx.outputs(required=False) or {}).get("secret_names") or {}
    return applied.get(source) or secret_name(ctx.env.name, source)


def put_secret(ctx: Context, source: str, value: str) -> SecretInfo:
    """Store `value` (a JSON object with the keys the source's job needs) as the secret's current
    version. Exit 2 naming the missing keys, with nothing stored, when it lacks any."""
    name = _name(ctx, source)
    value = value.strip()
    if not value:
        raise ConfigError("the secret value is empty", "pipe the JSON on stdin or pass --from-file")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        # The error never quotes the value: it may be a password typed in the wrong place.
        raise ConfigError(f"the value for '{source}' is not a JSON object",
                          'the jobs read JSON, e.g. {"user": "...", "password": "..."}')
    missing = missing_keys(source, parsed)
    if missing:
        raise ConfigError(f"the value for '{source}' lacks required key(s): {', '.join(missing)}; "
                          "nothing was stored", "add them and put it again"
                          + (" (a|b: one of the two)" if any("|" in m for m in missing) else ""))
    client = ctx.aws.client("secretsmanager")
    try:
        action, version = write_secret(client, name, parsed)
    except LookupError:
        raise ConfigError(f"secret '{name}' does not exist",
                          "run `deplat infra apply`: Terraform creates the secret shells") from None
    return SecretInfo(source, name, True, version_id=version, action=action)


def list_secrets(ctx: Context) -> list[SecretInfo]:
    """Each source's secret and whether a value has been put (values are never read)."""
    client = ctx.aws.client("secretsmanager")
    out = []
    for source in SOURCES:
        name = _name(ctx, source)
        try:
            meta = client.describe_secret(SecretId=name)
        except client.exceptions.ResourceNotFoundException:
            out.append(SecretInfo(source, name, False))
            continue
        stages = meta.get("VersionIdsToStages") or {}
        current = [version for version, labels in stages.items() if "AWSCURRENT" in labels]
        changed = meta.get("LastChangedDate")
        out.append(SecretInfo(source, name, bool(current), changed.isoformat() if changed else None,
                              current[0] if current else None))
    return out


def check_secret(ctx: Context, source: str, connect: bool = False) -> CheckResult:
    """Validate the secret's keys (names only are reported) and, with `connect`, open a real
    connection with it: Salesforce login, Snowflake `SELECT 1`, Kafka cluster metadata.

    Raises SecretCheckError (exit 2) when the secret is missing or not a JSON object; a failed
    key check or connection is reported in the result (`ok` False), with the source's own error.
    """
    name = _name(ctx, source)
    try:
        value = read_secret(name, ctx.aws.client("secretsmanager"))
    except LookupError:
        raise SecretCheckError(f"secret '{name}' has no value",
                               f"put one: `deplat secrets put {source} < {source}.json`") from None
    except ValueError:
        raise SecretCheckError(f"secret '{name}' is not a JSON object",
                               f"put a JSON object: `deplat secrets put {source} < {source}.json`") from None
    result = CheckResult(source, name, sorted(value), missing_keys(source, value))
    if connect and not result.missing:
        result.connected, result.detail = _CONNECTORS[source](value)
    return result


def _connect_salesforce(value: dict[str, Any]) -> tuple[bool, str]:
    from deplat_job.sources import salesforce

    try:
        sf = salesforce.connect(salesforce.SalesforceConfig.from_json(json.dumps(value)), timeout=20.0)
    except Exception as exc:  # noqa: BLE001 - the source's own error is the answer
        return False, _source_error(exc)
    return True, f"logged in to {getattr(sf, 'sf_instance', '') or 'Salesforce'}"


def _connect_snowflake(value: dict[str, Any]) -> tuple[bool, str]:
    from deplat_job.sources import snowflake

    params = {k: v for k, v in value.items() if k in snowflake.CONNECT_FIELDS}
    try:
        conn = snowflake.connect(params)
        try:
            row = conn.cursor().execute("SELECT 1").fetchone()
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - the source's own error is the answer
        return False, _source_error(exc)
    return row is not None and row[0] == 1, "SELECT 1 returned 1"


def _connect_kafka(value: dict[str, Any]) -> tuple[bool, str]:
    from deplat_job.sources.kafka import KafkaConnection

    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        return False, "confluent-kafka is not installed (the streaming extra)"
    try:
        conf: dict[str, Any] = KafkaConnection.from_json(json.dumps(value)).client_config()
        metadata = AdminClient(conf).list_topics(timeout=10)
    except Exception as exc:  # noqa: BLE001 - the source's own error is the answer
        return False, _source_error(exc)
    return True, f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"


def _source_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _connect_rds(value: dict[str, Any]) -> tuple[bool, str]:
    from deplat_job.sources import rds

    try:
        conn = rds.connect(value)
        try:
            row = conn.execute("SELECT 1").fetchone()
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - the source's own error is the answer
        return False, _source_error(exc)
    return row is not None and row[0] == 1, "SELECT 1 returned 1"


_CONNECTORS = {"salesforce": _connect_salesforce, "snowflake": _connect_snowflake, "kafka": _connect_kafka,
               "rds": _connect_rds}
