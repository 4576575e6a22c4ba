"""`deplat lf`: Lake Formation LF-tags, their assignments and tag-based grants as one reconcile.

Desired state comes from config (`governance:` in config/deplat.yaml): tags on the layer databases,
optional table tags, `classification=pii` on the PII columns, and one LF-tag-policy grant
(SELECT + DESCRIBE on tables, DESCRIBE on databases) to the analyst principal. Columns tagged pii
do not match the grant's expression, so Lake Formation leaves them out of the analyst's reads.

Coded to AWS's semantics, with moto 5.2.5's gaps handled (facts file C2):
- an LF-tag that exists is extended with `update_lf_tag(TagValuesToAdd=...)`, never re-created
  (AWS refuses `create_lf_tag` on an existing key; moto overwrites silently);
- `add_lf_tags_to_resource` is always sent the resource's whole managed tag set (AWS merges, moto
  replaces), a changed value is removed before the new one is added (one value per key on AWS), and
  its `Failures` are checked (it does not raise);
- grants are found with an unfiltered `list_permissions` filtered here (moto rejects an LFTagPolicy
  filter), and compared with the expression in canonical order (moto compares whole dicts);
- moto answers `get_resource_lf_tags` on a never-tagged resource with HTTP 500; locally that reads
  as "no tags" (AWS returns empty lists).
Only tag keys named in config are managed: other keys on a resource are left alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DeplatError, ExitCode

if TYPE_CHECKING:
    from deplat.core.context import Context

TABLE_PERMISSIONS = ("DESCRIBE", "SELECT")
DATABASE_PERMISSIONS = ("DESCRIBE",)
LF_LAYERS = ("silver", "gold")


class GovernanceError(DeplatError):
    """Lake Formation refused part of the reconcile (e.g. a tag assignment listed in Failures)."""

    exit_code = ExitCode.INFRA


@dataclass
class Change:
    """One line of the plan. kind: tag-values | tag | grant; action: add | keep | remove."""

    kind: str
    action: str
    resource: str
    detail: str


@dataclass
class SeedResult:
    dry_run: bool
    principal: str
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.action != "keep" for c in self.changes)

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "keep": 0, "remove": 0}
        for c in self.changes:
            out[c.action] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "principal": self.principal, "changed": self.changed,
                "counts": self.counts(), "changes": [asdict(c) for c in self.changes],
                "warnings": self.warnings}


def _expression(expr: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"TagKey": k, "TagValues": sorted(v)} for k, v in sorted(expr.items())]


def _canonical(resource: dict[str, Any]) -> tuple:
    policy = resource["LFTagPolicy"]
    return (policy.get("ResourceType"),
            tuple(sorted((e["TagKey"], tuple(sorted(e["TagValues"]))) for e in policy.get("Expression", []))))


class LakeFormation:
    """The reconcile over one environment. `lf` and `glue` are boto3 clients (injectable)."""

    def __init__(self, ctx: Context, lf: Any = None, glue: Any = None, account_id: str | None = None):
        self.ctx = ctx
        self.cfg = ctx.settings.governance
        self.lf = lf or _lf_client(ctx)
        self.glue = glue or ctx.aws.client("glue")
        self._account_id = account_id
        self.local = ctx.env.is_local
        self.databases = {layer: ctx.output(f"glue_database_{layer}") for layer in LF_LAYERS}
        outputs = ctx.outputs(required=False)
        self.keys: dict[str, str] = dict(outputs.get("lf_tags") or {})

    # --- names -------------------------------------------------------------------------------

    def key(self, short: str) -> str:
        """The catalog's tag key for a config short name (Terraform's `lf_tags` output)."""
        if short not in self.keys:
            prefix = self.databases["silver"].rsplit("_", 1)[0]
            self.keys[short] = f"{prefix}_{short}"
        return self.keys[short]

    @property
    def principal(self) -> str:
        """The analyst principal's ARN ({account_id}, {project}, {env} expanded)."""
        template = self.cfg.analyst_principal
        account = self._account_id
        if "{account_id}" in template and account is None:
            account = self._account_id = self.ctx.aws.client("sts").get_caller_identity()["Account"]
        return template.format(account_id=account, project=self.ctx.settings.project, env=self.ctx.env.name)

    def _split(self, qualified: str) -> tuple[str, str, str]:
        layer, _, table = qualified.partition(".")
        if layer not in self.databases or not table:
            raise ConfigError(f"'{qualified}' is not <layer>.<table> with layer silver or gold")
        return layer, self.databases[layer], table

    # --- desired state -------------------------------------------------------------------------

    def _tables(self) -> dict[tuple[str, str], list[str]]:
        """(database, table) -> column names (partition keys included), from Glue."""
        out: dict[tuple[str, str], list[str]] = {}
        for db in self.databases.values():
            for page in self.glue.get_paginator("get_tables").paginate(DatabaseName=db):
                for t in page["TableList"]:
                    cols = [c["Name"] for c in t.get("StorageDescriptor", {}).get("Columns", [])]
                    out[(db, t["Name"])] = cols + [c["Name"] for c in t.get("PartitionKeys", [])]
        return out

    def desired(self, tables: dict[tuple[str, str], list[str]], warnings: list[str]
                ) -> dict[tuple, dict[str, str]]:
        """Resource key -> {tag key: value}. Keys: ("db", db), ("table", db, t), ("column", db, t, c)."""
        want: dict[tuple, dict[str, str]] = {}
        for layer, tags in self.cfg.database_tags.items():
            if layer in self.databases:
                want[("db", self.databases[layer])] = {self.key(k): v for k, v in tags.items()}
        for qualified, tags in self.cfg.table_tags.items():
            _, db, table = self._split(qualified)
            if (db, table) not in tables:
                warnings.append(f"{qualified}: not in the Glue catalog (run `deplat catalog register`)")
                continue
            want[("table", db, table)] = {self.key(k): v for k, v in tags.items()}
        pii_key, pii_value = self.cfg.pii_tag
        for qualified, columns in self.cfg.pii_columns.items():
            _, db, table = self._split(qualified)
            if (db, table) not in tables:
                warnings.append(f"{qualified}: not in the Glue catalog (run `deplat catalog register`)")
                continue
            for col in columns:
                if col not in tables[(db, table)]:
                    warnings.append(f"{qualified}.{col}: no such column in Glue")
                    continue
                want[("column", db, table, col)] = {self.key(pii_key): pii_value}
        return want

    def desired_grants(self) -> list[dict[str, Any]]:
        """The analyst's LF-tag-policy grants (Resource + Permissions), canonical order."""
        if not self.cfg.analyst_grant:
            return []
        expr = _expression({self.key(k): v for k, v in self.cfg.analyst_grant.items()})
        return [{"Resource": {"LFTagPolicy": {"ResourceType": "DATABASE", "Expression": expr}},
                 "Permissions": list(DATABASE_PERMISSIONS)},
                {"Resource": {"LFTagPolicy": {"ResourceType": "TABLE", "Expression": expr}},
                 "Permissions": list(TABLE_PERMISSIONS)}]

    def managed_keys(self) -> set[str]:
        shorts = {k for tags in self.cfg.database_tags.values() for k in tags}
        shorts |= {k for tags in self.cfg.table_tags.values() for k in tags}
        shorts |= {self.cfg.pii_tag[0]} | set(self.cfg.analyst_grant)
        return {self.key(s) for s in shorts}

    # --- current state -------------------------------------------------------------------------

    def _get_tags(self, resource: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return self.lf.get_resource_lf_tags(Resource=resource, ShowAssignedLFTags=True)
        except ClientError as exc:
            if self.local and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 500:
                return {}  # moto: a resource never tagged (KeyError inside moto)
            raise

    @staticmethod
    def _flat(tags: list[dict[str, Any]]) -> dict[str, str]:
        return {t["TagKey"]: t["TagValues"][0] for t in tags if t.get("TagValues")}

    def current(self, tables: dict[tuple[str, str], list[str]]) -> dict[tuple, dict[str, str]]:
        have: dict[tuple, dict[str, str]] = {}
        for db in self.databases.values():
            have[("db", db)] = self._flat(self._get_tags({"Database": {"Name": db}}).get("LFTagOnDatabase", []))
        for (db, table), columns in tables.items():
            got = self._get_tags({"Table": {"DatabaseName": db, "Name": table}})
            have[("table", db, table)] = self._flat(got.get("LFTagsOnTable", []))
            if columns:
                got = self._get_tags({"TableWithColumns": {"DatabaseName": db, "Name": table,
                                                           "ColumnNames": columns}})
                for col in got.get("LFTagsOnColumns", []):
                    have[("column", db, table, col["Name"])] = self._flat(col.get("LFTags", []))
        return have

    def grants(self) -> list[dict[str, Any]]:
        """Every LF-tag-policy grant in the catalog (unfiltered list_permissions, filtered here)."""
        out, token = [], None
        while True:
            page = self.lf.list_permissions(**({"NextToken": token} if token else {}))
            out += [p for p in page.get("PrincipalResourcePermissions", []) if "LFTagPolicy" in p["Resource"]]
            token = page.get("NextToken")
            if not token:
                return out

    # --- reconcile -----------------------------------------------------------------------------

    def seed(self, dry_run: bool = False) -> SeedResult:
        """Plan and (unless `dry_run`) apply tag values, assignments and grants; idempotent."""
        result = SeedResult(dry_run, self.principal)
        tables = self._tables()
        want = self.desired(tables, result.warnings)
        self._seed_tag_values(want, result, dry_run)
        self._seed_assignments(want, self.current(tables), result, dry_run)
        self._seed_grants(result, dry_run)
        return result

    def _seed_tag_values(self, want: dict[tuple, dict[str, str]], result: SeedResult, dry_run: bool) -> None:
        needed: dict[str, set[str]] = {}
        for tags in want.values():
            for k, v in tags.items():
                needed.setdefault(k, set()).add(v)
        for short, granted in self.cfg.analyst_grant.items():
            needed.setdefault(self.key(short), set()).update(granted)
        existing: dict[str, set[str]] = {}
        token = None
        while True:
            page = self.lf.list_lf_tags(**({"NextToken": token} if token else {}))
            existing.update({t["TagKey"]: set(t["TagValues"]) for t in page.get("LFTags", [])})
            token = page.get("NextToken")
            if not token:
                break
        for key, values in sorted(needed.items()):
            if key not in existing:
                result.changes.append(Change("tag-values", "add", key, ", ".join(sorted(values))))
                if not dry_run:
                    self.lf.create_lf_tag(TagKey=key, TagValues=sorted(values))
                continue
            missing = values - existing[key]
            if missing:
                result.changes.append(Change("tag-values", "add", key, ", ".join(sorted(missing))))
                if not dry_run:
                    self.lf.update_lf_tag(TagKey=key, TagValuesToAdd=sorted(missing))
            else:
                result.changes.append(Change("tag-values", "keep", key, ", ".join(sorted(values))))

    def _seed_assignments(self, want: dict[tuple, dict[str, str]], have: dict[tuple, dict[str, str]],
                          result: SeedResult, dry_run: bool) -> None:
        managed = self.managed_keys()
        for res in sorted(set(want) | {r for r, tags in have.items() if managed & set(tags)}):
            target = want.get(res, {})
            current = {k: v for k, v in have.get(res, {}).items() if k in managed}
            label = _label(res)
            stale = {k: v for k, v in current.items() if target.get(k) != v}
            new = {k: v for k, v in target.items() if current.get(k) != v}
            for k, v in sorted(target.items()):
                if current.get(k) == v:
                    result.changes.append(Change("tag", "keep", label, f"{k}={v}"))
            for k, v in sorted(stale.items()):
                result.changes.append(Change("tag", "remove", label, f"{k}={v}"))
            for k, v in sorted(new.items()):
                result.changes.append(Change("tag", "add", label, f"{k}={v}"))
            if dry_run:
                continue
            resource = _resource(res)
            if stale:
                self.lf.remove_lf_tags_from_resource(Resource=resource, LFTags=_tags(stale))
            if new:
                # The whole managed set: AWS merges it, moto replaces the list with it.
                keep = {k: v for k, v in have.get(res, {}).items() if k not in managed}
                resp = self.lf.add_lf_tags_to_resource(Resource=resource, LFTags=_tags({**keep, **target}))
                if resp.get("Failures"):
                    errors = "; ".join(f"{f['LFTag']['TagKey']}: {f['Error'].get('ErrorMessage')}"
                                       for f in resp["Failures"])
                    raise GovernanceError(f"Lake Formation did not tag {label}: {errors}",
                                          "check the LF-tag definitions (`deplat infra apply` creates them)")

    def _seed_grants(self, result: SeedResult, dry_run: bool) -> None:
        principal = self.principal
        managed = self.managed_keys()
        wanted = {(_canonical(g["Resource"]), tuple(sorted(g["Permissions"]))): g for g in self.desired_grants()}
        current: dict[tuple, dict[str, Any]] = {}
        for p in self.grants():
            if p["Principal"].get("DataLakePrincipalIdentifier") != principal:
                continue
            keys = {e["TagKey"] for e in p["Resource"]["LFTagPolicy"].get("Expression", [])}
            if keys <= managed:
                current[(_canonical(p["Resource"]), tuple(sorted(p["Permissions"])))] = p
        for sig, grant in sorted(wanted.items()):
            label = f"{sig[0][0]} where {_expr_text(sig[0][1])}"
            if sig in current:
                result.changes.append(Change("grant", "keep", label, ", ".join(sig[1])))
                continue
            result.changes.append(Change("grant", "add", label, ", ".join(sig[1])))
            if not dry_run:
                self.lf.grant_permissions(Principal={"DataLakePrincipalIdentifier": principal},
                                          Resource=grant["Resource"], Permissions=grant["Permissions"])
        for sig, grant in sorted(current.items()):
            if sig in wanted:
                continue
            result.changes.append(Change("grant", "remove", f"{sig[0][0]} where {_expr_text(sig[0][1])}",
                                         ", ".join(sig[1])))
            if not dry_run:
                self.lf.revoke_permissions(Principal={"DataLakePrincipalIdentifier": principal},
                                           Resource=grant["Resource"], Permissions=grant["Permissions"])

    # --- show ----------------------------------------------------------------------------------

    def show(self, qualified: str) -> dict[str, Any]:
        """A table's tags (database, table, column level; effective per column) and, per LF-tag
        grant, which columns each principal may read. ConfigError for an unregistered table."""
        layer, db, table = self._split(qualified)
        try:
            meta = self.glue.get_table(DatabaseName=db, Name=table)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            raise ConfigError(f"{qualified} is not in Glue database {db}",
                              "run `deplat catalog register` first") from None
        columns = [c["Name"] for c in meta.get("StorageDescriptor", {}).get("Columns", [])]
        columns += [c["Name"] for c in meta.get("PartitionKeys", [])]
        have = self.current({(db, table): columns})
        db_tags, table_tags = have.get(("db", db), {}), have.get(("table", db, table), {})
        effective = {c: {**db_tags, **table_tags, **have.get(("column", db, table, c), {})} for c in columns}
        access = []
        for p in self.grants():
            policy = p["Resource"]["LFTagPolicy"]
            if policy.get("ResourceType") != "TABLE":
                continue
            expr = {e["TagKey"]: set(e["TagValues"]) for e in policy.get("Expression", [])}
            readable = [c for c in columns if all(effective[c].get(k) in vals for k, vals in expr.items())]
            if not readable:
                continue  # a grant whose expression matches nothing in this table
            access.append({"principal": p["Principal"].get("DataLakePrincipalIdentifier"),
                           "permissions": sorted(p["Permissions"]),
                           "expression": _expr_text(_canonical(p["Resource"])[1]),
                           "columns": readable, "excluded": [c for c in columns if c not in readable]})
        return {"table": qualified, "database": db, "database_tags": db_tags, "table_tags": table_tags,
                "column_tags": {c: t for c in columns if (t := have.get(("column", db, table, c)))},
                "effective": effective, "access": access}


def _lf_client(ctx: Context) -> Any:
    if not ctx.env.is_local:
        return ctx.aws.client("lakeformation")
    from botocore.config import Config

    from deplat.core.aws import client_config

    # moto's HTTP 500 for a never-tagged resource is an answer, not a transient fault: retry once.
    config = client_config().merge(Config(retries={"mode": "standard", "max_attempts": 1}))
    return ctx.aws.session.client("lakeformation", endpoint_url=ctx.env.endpoint_url, config=config)


def _label(res: tuple) -> str:
    return {"db": lambda: f"database {res[1]}", "table": lambda: f"table {res[1]}.{res[2]}",
            "column": lambda: f"column {res[1]}.{res[2]}.{res[3]}"}[res[0]]()


def _resource(res: tuple) -> dict[str, Any]:
    if res[0] == "db":
        return {"Database": {"Name": res[1]}}
    if res[0] == "table":
        return {"Table": {"DatabaseName": res[1], "Name": res[2]}}
    return {"TableWithColumns": {"DatabaseName": res[1], "Name": res[2], "ColumnNames": [res[3]]}}


def _tags(tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"TagKey": k, "TagValues": [v]} for k, v in sorted(tags.items())]


def _expr_text(expr: tuple) -> str:
    return " AND ".join(f"{k} IN ({', '.join(v)})" for k, v in expr)


# --- is the lake governed by Lake Formation? --------------------------------------------------

IAM_ALLOWED_PRINCIPALS = "IAM_ALLOWED_PRINCIPALS"


@dataclass
class GovernanceCheck:
    """One condition of Lake Formation enforcement: `ok`, what was seen, and the fix when not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class GovernanceStatus:
    """Whether Lake Formation, not IAM alone, decides who reads the lake. `governed` needs every
    check: data-lake admins set, no IAMAllowedPrincipals default grant for new databases or tables,
    the lake bucket registered, and no IAMAllowedPrincipals grant on the layer databases."""

    checks: list[GovernanceCheck]

    @property
    def governed(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"governed": self.governed, "checks": [asdict(c) for c in self.checks]}


def _aws_error(exc: Exception) -> str:
    err = getattr(exc, "response", {}).get("Error", {})
    return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', exc)}"


def _iam_allowed(entries: list[dict[str, Any]]) -> bool:
    return any(e.get("Principal", {}).get("DataLakePrincipalIdentifier") == IAM_ALLOWED_PRINCIPALS
               for e in entries or [])


def governance_status(lf: Any, glue: Any, lake_bucket: str, databases: list[str], env: str,
                      partition: str = "aws") -> GovernanceStatus:
    """Read-only checks of Lake Formation enforcement over the lake (boto3 clients injected).

    Sources of the rules (Lake Formation developer guide, "Changing the default settings for your
    data lake" and "Registering an Amazon S3 location"): the account's default grants
    CreateDatabaseDefaultPermissions / CreateTableDefaultPermissions = ALL to
    IAM_ALLOWED_PRINCIPALS leave IAM alone in charge of new databases and tables; a database keeps
    that grant (and its own CreateTableDefaultPermissions) if it was created under those defaults;
    data under an unregistered S3 location is not governed. Each failure carries its fix; API
    errors (e.g. AccessDenied) become failed checks, never exceptions.
    """
    apply = f"run `deplat -e {env} infra apply` (terraform/lakeformation.tf)"
    checks: list[GovernanceCheck] = []
    try:
        settings = lf.get_data_lake_settings()["DataLakeSettings"]
    except Exception as exc:  # noqa: BLE001 - every failure is a check result
        detail = _aws_error(exc)
        fix = "the operator needs lakeformation:GetDataLakeSettings"
        checks += [GovernanceCheck("lake formation admin", False, detail, fix),
                   GovernanceCheck("lake formation default grants", False, detail, fix)]
    else:
        admins = [a.get("DataLakePrincipalIdentifier") for a in settings.get("DataLakeAdmins", [])]
        checks.append(GovernanceCheck("lake formation admin", bool(admins),
                                      ", ".join(admins) or "no data-lake administrator", "" if admins else apply))
        defaults = [kind for kind, key in (("databases", "CreateDatabaseDefaultPermissions"),
                                           ("tables", "CreateTableDefaultPermissions"))
                    if _iam_allowed(settings.get(key, []))]
        checks.append(GovernanceCheck(
            "lake formation default grants", not defaults,
            ("new databases and tables get no IAMAllowedPrincipals grant" if not defaults else
             f"new {' and '.join(defaults)} grant ALL to IAMAllowedPrincipals: IAM alone decides access"),
            "" if not defaults else apply))
    lake_arn = f"arn:{partition}:s3:::{lake_bucket}"
    try:
        registered, token = [], None
        while True:
            page = lf.list_resources(**({"NextToken": token} if token else {}))
            registered += [r["ResourceArn"].rstrip("/") for r in page.get("ResourceInfoList", [])]
            token = page.get("NextToken")
            if not token:
                break
    except Exception as exc:  # noqa: BLE001
        checks.append(GovernanceCheck("lake location registered", False, _aws_error(exc),
                                      "the operator needs lakeformation:ListResources"))
    else:
        ok = lake_arn in registered
        checks.append(GovernanceCheck("lake location registered", ok,
                                      f"{lake_arn} {'is' if ok else 'is not'} registered with Lake Formation",
                                      "" if ok else apply))
    for db in databases:
        checks.append(_database_check(lf, glue, db))
    return GovernanceStatus(checks)


def _database_check(lf: Any, glue: Any, db: str) -> GovernanceCheck:
    fix = ("revoke it: `aws lakeformation revoke-permissions --principal "
           f"DataLakePrincipalIdentifier={IAM_ALLOWED_PRINCIPALS} --permissions ALL --resource "
           f"'{{\"Database\":{{\"Name\":\"{db}\"}}}}'` and clear the database's default table "
           "permissions (Lake Formation console: Databases > Edit)")
    try:
        meta = glue.get_database(Name=db)["Database"]
        grants = lf.list_permissions(Principal={"DataLakePrincipalIdentifier": IAM_ALLOWED_PRINCIPALS},
                                     Resource={"Database": {"Name": db}}).get("PrincipalResourcePermissions", [])
    except Exception as exc:  # noqa: BLE001
        return GovernanceCheck(f"lake formation database {db}", False, _aws_error(exc),
                               "the operator needs glue:GetDatabase and lakeformation:ListPermissions")
    found = []
    if grants:
        found.append("the database grants IAMAllowedPrincipals")
    if _iam_allowed(meta.get("CreateTableDefaultPermissions", [])):
        found.append("its new tables grant ALL to IAMAllowedPrincipals")
    return GovernanceCheck(f"lake formation database {db}", not found,
                           "; ".join(found) or "no IAMAllowedPrincipals grant", fix if found else "")


def lake_status(ctx: Context, lf: Any = None, glue: Any = None) -> GovernanceStatus:
    """`governance_status` for the context's environment (names from the Terraform outputs)."""
    out = ctx.outputs()
    databases = [out[k] for k in ("glue_database_silver", "glue_database_gold") if out.get(k)]
    return governance_status(lf or _lf_client(ctx), glue or ctx.aws.client("glue"), out["lake_bucket"],
                             databases, ctx.env.name)
