"""`deplat catalog`: one Glue table per Delta table, read from the Delta log (delta-rs, no JVM).

The Glue shape is the one Athena's native Delta reader and Spark both recognise (facts file C1;
AWS "Synchronize Delta Lake metadata": https://docs.aws.amazon.com/athena/latest/ug/delta-lake-tables-syncing-metadata.html):
`table_type=DELTA` and `spark.sql.sources.provider=delta` parameters, the real columns (Lake
Formation column grants need them), Delta's partition columns as PartitionKeys (never Glue
partitions), the location and the SerDe `path`. Registration is a reconcile: create what is
missing, `update_table` only what drifted (each update is a new Glue table version), report Glue
tables whose Delta folder vanished and delete them only with prune + yes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, SafetyError

if TYPE_CHECKING:
    from deplat.core.context import Context

CATALOG_LAYERS = ("silver", "gold")
MANAGED_PARAMETERS = {"table_type": "DELTA", "spark.sql.sources.provider": "delta", "EXTERNAL": "TRUE"}
PARQUET_IN = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_PRIMITIVE = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint",
              "timestamp_ntz": "timestamp"}


def hive_type(delta_type: Any) -> str:
    """A Delta schema type (its JSON form) as a Glue/Hive type string: long -> bigint, ..."""
    if isinstance(delta_type, str):
        return _PRIMITIVE.get(delta_type, delta_type)
    kind = delta_type["type"]
    if kind == "struct":
        return "struct<" + ",".join(f"{f['name']}:{hive_type(f['type'])}" for f in delta_type["fields"]) + ">"
    if kind == "array":
        return f"array<{hive_type(delta_type['elementType'])}>"
    if kind == "map":
        return f"map<{hive_type(delta_type['keyType'])},{hive_type(delta_type['valueType'])}>"
    raise ConfigError(f"unsupported Delta type {delta_type!r}")


@dataclass
class DeltaInfo:
    """What the Delta log says: columns (name, hive type), partition keys, version, row count."""

    uri: str
    version: int
    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    rows: int | None = None


def read_delta(uri: str, storage_options: dict[str, str] | None = None, count_rows: bool = False) -> DeltaInfo:
    """The schema and version from the log (no data read); rows from the add actions' stats."""
    from deltalake import DeltaTable

    table = DeltaTable(uri, storage_options=storage_options)
    fields = json.loads(table.schema().to_json())["fields"]
    parts = list(table.metadata().partition_columns)
    typed = [(f["name"], hive_type(f["type"])) for f in fields]
    rows = None
    if count_rows:
        actions = table.get_add_actions(flatten=True)
        counts = actions.column("num_records").to_pylist()
        rows = None if any(c is None for c in counts) else int(sum(counts))
    return DeltaInfo(uri, table.version(), [c for c in typed if c[0] not in parts],
                     [c for c in typed if c[0] in parts], rows)


def table_input(name: str, location: str, info: DeltaInfo) -> dict[str, Any]:
    """The Glue TableInput for a Delta table (see the module docstring for the shape's source)."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": dict(MANAGED_PARAMETERS),
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in info.columns],
            "Location": location,
            "InputFormat": PARQUET_IN,
            "OutputFormat": PARQUET_OUT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE,
                          "Parameters": {"path": location, "serialization.format": "1"}},
        },
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in info.partition_keys],
    }


def _shape(table: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Glue table deplat manages (Glue adds CreateTime, VersionId, ... itself)."""
    sd = table.get("StorageDescriptor", {})
    params = table.get("Parameters", {})
    return {
        "TableType": table.get("TableType"),
        "Parameters": {k: params.get(k) for k in MANAGED_PARAMETERS},
        "Columns": [(c["Name"], c["Type"]) for c in sd.get("Columns", [])],
        "PartitionKeys": [(c["Name"], c["Type"]) for c in table.get("PartitionKeys", [])],
        "Location": sd.get("Location"),
        "InputFormat": sd.get("InputFormat"),
        "OutputFormat": sd.get("OutputFormat"),
        "Serde": sd.get("SerdeInfo", {}).get("SerializationLibrary"),
        "SerdePath": sd.get("SerdeInfo", {}).get("Parameters", {}).get("path"),
    }


def column_diff(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> list[str]:
    """`+ name type`, `- name type`, `~ name old -> new` lines, in the new table's column order."""
    before, after = dict(old), dict(new)
    lines = [f"+ {n} {t}" if n not in before else f"~ {n} {before[n]} -> {t}"
             for n, t in new if before.get(n) != t]
    lines += [f"- {n} {t}" for n, t in old if n not in after]
    return lines


def source_drift(uri: str, storage_options: dict[str, str] | None = None) -> list[str]:
    """`source drift: ...` lines from a DMS silver table's drift state (`uri`, written by each
    dms_bronze_to_silver run, pipelines.dms.write_drift_state): source columns whose values no
    longer fit the declared type. The Glue and Delta schemas cannot show it: they still agree."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        rows = DeltaTable(uri, storage_options=storage_options).to_pyarrow_table().to_pylist()
    except TableNotFoundError:
        return []
    out = []
    for r in rows:
        n = int(r["held_back"] or 0)
        held = f"{n} key{'' if n == 1 else 's'} held back from silver: {r['held_back_keys']}" if n else \
            "no key held back"
        out.append(f"source drift: {r['column']} {r['declared']} -> values need {r['needed']}; {held}")
    return out


@dataclass
class TableAction:
    """One table's reconcile outcome. action: create | update | unchanged | orphan | prune |
    source_drift (Glue matches Delta, but the source's values no longer fit the declared type)."""

    layer: str
    database: str
    table: str
    action: str
    location: str = ""
    changes: list[str] = field(default_factory=list)
    version: int | None = None
    rows: int | None = None
    applied: bool = False
    missing_files: list[str] = field(default_factory=list)  # referenced by the log, gone from storage


@dataclass
class CatalogResult:
    dry_run: bool
    actions: list[TableAction]

    @property
    def drift(self) -> bool:
        return any(a.action != "unchanged" for a in self.actions)

    @property
    def changed(self) -> bool:
        return any(a.applied for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "drift": self.drift, "changed": self.changed,
                "actions": [asdict(a) for a in self.actions]}


class Lake:
    """The lake's Delta tables per layer: a folder locally, S3 prefixes in the cloud."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.root = ctx.lake_uri.rstrip("/")

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def location(self, layer: str, table: str) -> str:
        """The table's URI as Glue stores it (trailing slash, as Athena writes it)."""
        if self.is_s3:
            return f"{self.root}/{layer}/{table}/"
        return Path(self.root, layer, table).resolve().as_uri() + "/"

    def uri(self, layer: str, table: str) -> str:
        return f"{self.root}/{layer}/{table}"

    def storage_options(self) -> dict[str, str] | None:
        if not self.is_s3:
            return None
        creds = self.ctx.aws.session.get_credentials().get_frozen_credentials()
        opts = {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key,
                "AWS_REGION": self.ctx.env.region}
        if creds.token:
            opts["AWS_SESSION_TOKEN"] = creds.token
        if self.ctx.env.endpoint_url:  # a local env whose lake is a bucket on moto
            opts.update({"AWS_ENDPOINT_URL": self.ctx.env.endpoint_url, "AWS_ALLOW_HTTP": "true"})
        return opts

    def tables(self, layer: str) -> list[str]:
        """Names of the Delta tables (folders with a `_delta_log/`) under `<lake>/<layer>/`."""
        if not self.is_s3:
            folder = Path(self.root, layer)
            return sorted(p.name for p in folder.iterdir() if (p / "_delta_log").is_dir()) if folder.is_dir() else []
        bucket, _, prefix = self.root[len("s3://"):].partition("/")
        s3 = self.ctx.aws.client("s3")
        base = f"{prefix + '/' if prefix else ''}{layer}/"
        names = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                name = cp["Prefix"][len(base):].rstrip("/")
                probe = s3.list_objects_v2(Bucket=bucket, Prefix=f"{cp['Prefix']}_delta_log/", MaxKeys=1)
                if probe.get("KeyCount", 0):
                    names.append(name)
        return sorted(names)


def _database(ctx: Context, layer: str) -> str:
    if layer not in CATALOG_LAYERS:
        raise ConfigError(f"layer '{layer}' has no Glue database", f"use one of: {', '.join(CATALOG_LAYERS)}")
    return ctx.output(f"glue_database_{layer}")


def _glue_tables(glue: Any, database: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    try:
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
            out.update({t["Name"]: t for t in page["TableList"]})
    except glue.exceptions.EntityNotFoundException:
        raise ConfigError(f"Glue database '{database}' does not exist",
                          "run `deplat infra apply` (it creates the layer databases)") from None
    return out


def reconcile(ctx: Context, layers: list[str], table: str | None = None, *, apply: bool = True,
              prune: bool = False, yes: bool = False, count_rows: bool = False) -> CatalogResult:
    """Plan (and with `apply`, carry out) the Glue tables for the layers' Delta tables.

    `prune` deletes Glue tables whose Delta folder vanished and needs `yes` (SafetyError, exit 7);
    without it they are reported as `orphan`. ConfigError (exit 2) for an unknown table or layer.
    """
    if prune and apply and not yes:
        raise SafetyError("--prune deletes Glue tables", "add --yes, or see the plan with --dry-run")
    lake = Lake(ctx)
    glue = ctx.aws.client("glue")
    opts = lake.storage_options()
    actions: list[TableAction] = []
    for layer in layers:
        database = _database(ctx, layer)
        existing = _glue_tables(glue, database)
        delta_tables = lake.tables(layer)
        if table is not None:
            if table not in delta_tables and table not in existing:
                raise ConfigError(f"no Delta table '{layer}.{table}' in {lake.root}",
                                  f"known: {', '.join(delta_tables) or '(none)'}")
            delta_tables = [t for t in delta_tables if t == table]
        for name in delta_tables:
            info = read_delta(lake.uri(layer, name), opts, count_rows)
            location = lake.location(layer, name)
            wanted = table_input(name, location, info)
            act = TableAction(layer, database, name, "create", location, version=info.version, rows=info.rows)
            act.missing_files = _lost_files(ctx, f"{layer}.{name}")
            if name in existing:
                old, new = _shape(existing[name]), _shape(wanted)
                if old == new:
                    act.action = "unchanged"
                else:
                    act.action = "update"
                    act.changes = column_diff(old["Columns"], new["Columns"])
                    act.changes += [f"partition keys {old['PartitionKeys']} -> {new['PartitionKeys']}"
                                    ] if old["PartitionKeys"] != new["PartitionKeys"] else []
                    same_path = (old["SerdePath"], new["SerdePath"]) == (old["Location"], new["Location"])
                    act.changes += [f"{k}: {old[k]} -> {new[k]}" for k in old
                                    if k not in ("Columns", "PartitionKeys") and old[k] != new[k]
                                    and not (k == "SerdePath" and same_path)]
                    keep = existing[name].get("Parameters", {})
                    wanted["Parameters"] = {**keep, **wanted["Parameters"]}
            if layer == "silver":
                from deplat_job.pipelines.dms import DRIFT_STATE

                drift = source_drift(lake.uri("_state", DRIFT_STATE.format(table=name)), opts)
                act.changes += drift
                act.action = "source_drift" if drift and act.action == "unchanged" else act.action
            if act.missing_files:  # the log's row count includes rows no reader can get: not counted
                act.rows = None
                act.changes += [f"data file missing from storage (version {info.version}): {u}"
                                for u in act.missing_files]
                act.action = "missing_files" if act.action == "unchanged" else act.action
            if apply and act.action == "create":
                glue.create_table(DatabaseName=database, TableInput=wanted)
                act.applied = True
            elif apply and act.action == "update":
                glue.update_table(DatabaseName=database, TableInput=wanted)
                act.applied = True
            actions.append(act)
        for name in sorted(set(existing) - set(lake.tables(layer))):
            if table is not None and name != table:
                continue
            loc = existing[name].get("StorageDescriptor", {}).get("Location", "")
            act = TableAction(layer, database, name, "prune" if prune else "orphan", loc,
                              ["Delta folder no longer exists"])
            if apply and prune:
                glue.delete_table(DatabaseName=database, Name=name)
                act.applied = True
            actions.append(act)
    return CatalogResult(not apply, actions)


def _lost_files(ctx: Context, table: str) -> list[str]:
    from deplat.recovery import missing_data_files

    return missing_data_files(ctx, table)


def layers_for(layer: str | None) -> list[str]:
    """The layers a command covers: the one named, or all that have a Glue database."""
    if layer is None:
        return list(CATALOG_LAYERS)
    if layer not in CATALOG_LAYERS:
        raise ConfigError(f"layer '{layer}' has no Glue database", f"use one of: {', '.join(CATALOG_LAYERS)}")
    return [layer]
