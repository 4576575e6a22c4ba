"""Settings: config/deplat.yaml < DEPLAT_* environment variables < command-line flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deplat.core.cost import DEFAULT_PRICES
from deplat_job.errors import ConfigError

CONFIG_RELPATH = Path("config") / "deplat.yaml"
ENV_PREFIX = "DEPLAT_"
# Variables that select or locate things rather than override an environment field.
_RESERVED_VARS = {"DEPLAT_ENV", "DEPLAT_CONFIG", "DEPLAT_HOME", "DEPLAT_STACK_DIR", "DEPLAT_CACHE", "DEPLAT_OUTPUT"}


def cache_dir() -> Path:
    """The per-user download cache (Spark jars, the Kafka broker, EMR's Python, dependency archives):
    `DEPLAT_CACHE`, else `~/.cache/deplat`. Shared by every checkout and environment; not created here."""
    return Path(os.environ.get("DEPLAT_CACHE") or Path.home() / ".cache" / "deplat")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Environment(_Strict):
    """One deployment target: `local` (moto + local Spark) or an AWS account."""

    name: str = ""
    kind: Literal["local", "aws"]
    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    state_bucket: str | None = None
    lake_uri: str | None = None
    spark_master: str = "local[2]"
    # Which engine runs jobs: EMR Serverless everywhere (in a local env, the cloud's engine against
    # moto's EMR Serverless stand-in, whose warm drivers are the application's pre-initialized
    # capacity, Terraform `emr_initial_capacity`). The only value; kept so a config may say it.
    engine: Literal["emr-serverless"] | None = None
    protected: bool = False

    @model_validator(mode="after")
    def _local_needs_endpoint(self) -> Environment:
        if self.kind == "local" and not self.endpoint_url:
            raise ValueError("a local environment needs endpoint_url (the moto server)")
        return self

    @field_validator("engine", mode="before")
    @classmethod
    def _no_second_engine(cls, value: Any) -> Any:
        if value == "local-spark":
            raise ValueError("engine: local-spark was removed: every environment runs its jobs on EMR "
                             "Serverless (a local one on the stand-in `deplat local up` starts); drop the key")
        return value

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def job_engine(self) -> str:
        """`emr-serverless`: the engine this environment's jobs run on (the cloud's, or locally the
        stand-in's EMR Serverless API)."""
        return self.engine or "emr-serverless"


class LocalStackSettings(_Strict):
    moto_port: int = 5050
    postgres_port: int = 5433
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    snowflake_port: int = 5060
    salesforce_port: int = 5058
    # moto always serves EMR Serverless through the stand-in that runs real Spark; kept so an older
    # config that sets it still loads (false is refused).
    emr_serverless_standin: bool = True

    @model_validator(mode="after")
    def _standin_always(self) -> LocalStackSettings:
        if not self.emr_serverless_standin:
            raise ValueError("local_stack.emr_serverless_standin: false is gone: `deplat local up` always "
                             "starts moto with the EMR Serverless stand-in; remove the line")
        return self


class KafkaSettings(_Strict):
    """The order-events topic: created by `deplat kafka topics`, read by the streaming job."""

    topic: str = "orders_events"
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)


class GovernanceSettings(_Strict):
    """Lake Formation as `deplat lf seed` reconciles it. Tag names are the short names of the
    Terraform `lf_tags` output; `{account_id}`, `{project}`, `{env}` expand in the principal."""

    analyst_principal: str = "arn:aws:iam::{account_id}:role/{project}-{env}-analyst"
    database_tags: dict[str, dict[str, str]] = Field(default_factory=dict)  # layer -> tag -> value
    table_tags: dict[str, dict[str, str]] = Field(default_factory=dict)  # layer.table -> tag -> value
    pii_columns: dict[str, list[str]] = Field(default_factory=dict)  # layer.table -> columns
    pii_tag: tuple[str, str] = ("classification", "pii")
    analyst_grant: dict[str, list[str]] = Field(default_factory=dict)  # LF-tag expression


class LineageSettings(_Strict):
    """OpenLineage: the namespace of jobs and datasets; OPENLINEAGE_URL selects HTTP in the cloud."""

    namespace: str = "deplat"
    enabled: bool = True


class SnowflakeTable(_Strict):
    """How snowflake_to_bronze finds one table's changed rows (source_specs.SnowflakeTracking).

    `rescan` (no change column, e.g. TPC-H): read the whole table each run, keep changed rows.
    `change_column`: read rows whose `change_column` >= bronze's max of it - `lookback_seconds`."""

    tracking: Literal["rescan", "change_column"] = "rescan"
    change_column: str | None = None
    lookback_seconds: int = Field(default=0, ge=0)
    key: list[str] = Field(default_factory=list)  # primary key of a table not declared in code

    @model_validator(mode="after")
    def _column_iff_change_tracking(self) -> SnowflakeTable:
        if (self.tracking == "change_column") != bool(self.change_column):
            raise ValueError("change_column is required with tracking: change_column and not allowed with rescan")
        return self


_TPCH_RESCAN = {t: SnowflakeTable() for t in ("orders", "customer", "lineitem", "nation")}


class SnowflakeSettings(_Strict):
    """The Snowflake tables the snowflake pipeline extracts, each with its change tracking."""

    tables: dict[str, SnowflakeTable] = Field(default_factory=lambda: dict(_TPCH_RESCAN))

    def job_args(self) -> tuple[str, ...]:
        """`--snowflake-tables <json>`: what a step declaring `config="snowflake"` (registry.Step) takes."""
        import json

        tables = {name: t.model_dump(exclude_none=True) for name, t in self.tables.items()}
        return ("--snowflake-tables", json.dumps(tables, separators=(",", ":")))


# The config sections a registry Step may name as its `config` (their `job_args()` go to the step).
JOB_ARG_SECTIONS: dict[str, type[SnowflakeSettings]] = {"snowflake": SnowflakeSettings}


def section_job_args(settings: Any, section: str) -> tuple[str, ...]:
    """The job arguments of config section `section` (a key of JOB_ARG_SECTIONS; KeyError otherwise).
    Settings without that section (a caller's partial settings) get the section's defaults."""
    return (getattr(settings, section, None) or JOB_ARG_SECTIONS[section]()).job_args()


PriceUnit = Literal["vcpu_hour", "memory_gb_hour", "storage_gb_hour"]


def _default_prices() -> dict[str, dict[PriceUnit, float]]:
    """A fresh copy of deplat.core.cost.DEFAULT_PRICES (per region: USD per vCPU-hour, GB-hour, GB-hour)."""
    units: tuple[PriceUnit, ...] = ("vcpu_hour", "memory_gb_hour", "storage_gb_hour")
    return {region: {u: prices[u] for u in units} for region, prices in DEFAULT_PRICES.items()}


class EmrPricing(_Strict):
    """EMR Serverless on-demand prices per region (USD per vCPU-hour, memory GB-hour, storage
    GB-hour): `deplat status`, `report` and `run` price each run's billed utilization with them."""

    source: str = "https://aws.amazon.com/emr/pricing/"
    regions: dict[str, dict[PriceUnit, float]] = Field(default_factory=_default_prices)


class Settings(_Strict):
    project: str = "deplat"
    default_env: str = "local"
    environments: dict[str, Environment]
    local_stack: LocalStackSettings = Field(default_factory=LocalStackSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    snowflake: SnowflakeSettings = Field(default_factory=SnowflakeSettings)
    emr_pricing: EmrPricing = Field(default_factory=EmrPricing)
    # Where the settings came from and where state lives; filled by load_settings.
    source: str = "<built-in>"
    root: Path = Path(".")

    def env(self, name: str | None) -> Environment:
        """The named environment, or a ConfigError listing the known ones."""
        name = name or self.default_env
        if name not in self.environments:
            known = ", ".join(sorted(self.environments))
            raise ConfigError(
                f"unknown environment '{name}' in {self.source}",
                f"use one of: {known} (or add it under 'environments:')",
            )
        return self.environments[name]

    @property
    def state_dir(self) -> Path:
        """Each environment's own state, `<state_dir>/<env>/`: DEPLAT_HOME, else `<root>/.deplat`."""
        return Path(os.environ.get("DEPLAT_HOME") or self.root / ".deplat")

    @property
    def stack_dir(self) -> Path:
        """The local stack's folder: its services' pid, log and data files, the EMR Serverless stand-in's
        runs, and the Terraform state of the local envs (it describes the stack's moto server, so it
        lives and dies with it). DEPLAT_STACK_DIR, else `<state_dir>/stack`. One stack serves every
        state folder on the machine (its ports are fixed), so a second DEPLAT_HOME can share a running
        stack by pointing DEPLAT_STACK_DIR at it."""
        return Path(os.environ.get("DEPLAT_STACK_DIR") or self.state_dir / "stack")


_BUILTIN = {
    "project": "deplat",
    "default_env": "local",
    "environments": {
        "local": {
            "kind": "local",
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:5050",
            "lake_uri": ".deplat/local/lake",
        }
    },
}


def find_config(start: Path | None = None) -> Path | None:
    """DEPLAT_CONFIG, else the nearest config/deplat.yaml at or above `start` (the cwd)."""
    explicit = os.environ.get("DEPLAT_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"DEPLAT_CONFIG points at {path}, which does not exist")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_RELPATH
        if candidate.is_file():
            return candidate
    return None


# Fields that decide which safety rules apply: set in the config file only, never by a variable.
_FILE_ONLY_FIELDS = {"name", "kind", "protected"}


def _env_overrides(environ: dict[str, str], name: str, kind: str) -> dict[str, Any]:
    """The DEPLAT_* overrides for one environment, scoped so none can leak into another:

    `DEPLAT_<ENV>_<FIELD>` (e.g. DEPLAT_PROD_PROFILE, DEPLAT_LOCAL_ENDPOINT_URL) applies to that
    environment only; an unscoped `DEPLAT_<FIELD>` (DEPLAT_ENDPOINT_URL, DEPLAT_LAKE_URI) applies to
    local environments only, so a variable exported for the local stack never redirects dev or prod.
    `kind` and `protected` cannot be overridden (ConfigError).
    """
    fields = set(Environment.model_fields)
    scoped = f"{ENV_PREFIX}{''.join(c if c.isalnum() else '_' for c in name).upper()}_"
    unscoped: dict[str, Any] = {}
    named: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in _RESERVED_VARS:
            continue
        is_named = key.startswith(scoped)
        field = key[len(scoped if is_named else ENV_PREFIX):].lower()
        if field not in fields:
            continue
        if field in _FILE_ONLY_FIELDS:
            raise ConfigError(f"{key} cannot override '{field}'",
                              f"set environments.<name>.{field} in config/deplat.yaml")
        if is_named:
            named[field] = value
        elif kind == "local":
            unscoped[field] = value
    return {**unscoped, **named}  # the named variable wins


def _format_validation(path: str, err: ValidationError) -> ConfigError:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"{loc}: {e['msg']}")
    return ConfigError(f"invalid config {path}: " + "; ".join(lines), "fix the key(s) named above")


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the settings; every failure names the file, the key and the reason."""
    environ = dict(os.environ if environ is None else environ)
    path = path or find_config()
    if path is None:
        raw: Any = _BUILTIN
        source, root = "<built-in>", Path.cwd()
    else:
        source, root = str(path), path.resolve().parent.parent
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML in {path}: {exc}", "fix the syntax") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"invalid config {path}: the top level must be a mapping")
    try:
        settings = Settings.model_validate({**raw, "source": source, "root": root})
    except ValidationError as exc:
        raise _format_validation(source, exc) from None

    for name, env in settings.environments.items():
        data = env.model_dump(exclude={"name"})
        data.update(_env_overrides(environ, name, env.kind))
        try:
            settings.environments[name] = Environment.model_validate({**data, "name": name})
        except ValidationError as exc:
            raise _format_validation(f"{source} (with DEPLAT_* overrides)", exc) from None
    _check_moto_port(settings)
    return settings


def _check_moto_port(settings: Settings) -> None:
    """One moto port: `local up` starts moto on local_stack.moto_port, every command calls the local
    env's endpoint_url. A mismatch would drive whatever else listens there, so refuse it (exit 2)."""
    from urllib.parse import urlparse

    from deplat_job.shared import is_loopback

    moto_port = settings.local_stack.moto_port
    for name, env in settings.environments.items():
        if not (env.is_local and env.endpoint_url and is_loopback(env.endpoint_url)):
            continue  # a non-loopback endpoint is the safety guard's (exit 7)
        parsed = urlparse(env.endpoint_url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if port != moto_port:
            raise ConfigError(
                f"environments.{name}.endpoint_url ({env.endpoint_url}) and local_stack.moto_port "
                f"({moto_port}) name different ports in {settings.source}",
                "set both to the same port: `deplat local up` starts moto on moto_port and every "
                "command calls endpoint_url (DEPLAT_ENDPOINT_URL overrides the latter)")
