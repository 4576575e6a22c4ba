"""`deplat lf seed|show` on the real moto server, plus AWS semantics moto lacks (botocore Stubber)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _write(path, data: dict):
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(path), pa.table(data))


@pytest.fixture
def gov(local_stack, deplat_env):
    """Fresh Glue databases, LF-tag keys and registered tables on moto, unique to this test."""
    from deplat.catalog import reconcile
    from deplat.core.config import load_settings
    from deplat.core.context import Context

    suffix = uuid.uuid4().hex[:8]
    prefix = f"it_lf_{suffix}"
    dbs = {"silver": f"{prefix}_silver", "gold": f"{prefix}_gold"}
    keys = {"classification": f"{prefix}_classification", "layer": f"{prefix}_layer"}
    lake = deplat_env(outputs={**{f"glue_database_{k}": v for k, v in dbs.items()}, "lf_tags": keys}).lake
    ctx = Context(settings=load_settings(ROOT / "config" / "deplat.yaml"))
    glue, lf = ctx.aws.client("glue"), ctx.aws.client("lakeformation")
    for name in dbs.values():
        glue.create_database(DatabaseInput={"Name": name})
    # Terraform's definitions (terraform/variables.tf lf_tags), without the values config adds.
    lf.create_lf_tag(TagKey=keys["classification"], TagValues=["public", "internal"])
    lf.create_lf_tag(TagKey=keys["layer"], TagValues=["bronze", "silver", "gold"])
    _write(lake / "silver" / "customer_tpch", {"customer_key": [1], "name": ["Ann"], "address": ["x"],
                                               "phone": ["1"], "market_segment": ["AUTO"]})
    _write(lake / "gold" / "top_customers", {"customer_id": ["c1"], "spend_base": [1.0]})
    _write(lake / "gold" / "daily_revenue", {"order_date": ["2024-01-01"], "revenue_base": [1.0]})
    reconcile(ctx, ["silver", "gold"])
    yield ctx, lf, glue, dbs, keys
    from deplat.governance import LakeFormation

    gov = LakeFormation(ctx)
    for p in gov.grants():
        if {e["TagKey"] for e in p["Resource"]["LFTagPolicy"]["Expression"]} <= set(keys.values()):
            lf.revoke_permissions(Principal=p["Principal"], Resource=p["Resource"], Permissions=p["Permissions"])
    for key in keys.values():
        lf.delete_lf_tag(TagKey=key)
    for name in dbs.values():
        glue.delete_database(Name=name)


def _snapshot(ctx):
    from deplat.governance import LakeFormation

    gov = LakeFormation(ctx)
    tables = gov._tables()
    tags = gov.current(tables)
    managed = gov.managed_keys()
    grants = sorted(json.dumps(p, sort_keys=True) for p in gov.grants()
                    if {e["TagKey"] for e in p["Resource"]["LFTagPolicy"]["Expression"]} <= managed)
    defs = {t["TagKey"]: sorted(t["TagValues"]) for t in ctx.aws.client("lakeformation").list_lf_tags()["LFTags"]
            if t["TagKey"] in managed}
    return {"tags": {str(k): v for k, v in tags.items() if v}, "grants": grants, "defs": defs}


@pytest.mark.integration
def test_dry_run_writes_nothing_then_seed_twice_is_identical(gov):
    from deplat.governance import LakeFormation

    ctx, lf, glue, dbs, keys = gov
    before = _snapshot(ctx)
    plan = LakeFormation(ctx).seed(dry_run=True)
    assert plan.changed and _snapshot(ctx) == before
    assert ("tag-values", "add", keys["classification"], "confidential, pii") in [
        (c.kind, c.action, c.resource, c.detail) for c in plan.changes]
    assert any(c.kind == "grant" and c.action == "add" for c in plan.changes)
    assert "silver.rds_customers: not in the Glue catalog (run `deplat catalog register`)" in plan.warnings

    first = LakeFormation(ctx).seed()
    assert first.changed
    after_first = _snapshot(ctx)
    second = LakeFormation(ctx).seed()
    assert not second.changed and {c.action for c in second.changes} == {"keep"}
    assert _snapshot(ctx) == after_first
    assert after_first["defs"][keys["classification"]] == ["confidential", "internal", "pii", "public"]
    assert after_first["tags"][str(("column", dbs["silver"], "customer_tpch", "phone"))] == {
        keys["classification"]: "pii"}
    assert after_first["tags"][str(("db", dbs["gold"]))] == {keys["classification"]: "internal",
                                                             keys["layer"]: "gold"}
    assert len(after_first["grants"]) == 2


@pytest.mark.integration
def test_pii_columns_are_outside_the_analyst_grant(gov):
    from deplat.governance import LakeFormation

    ctx, lf, glue, dbs, keys = gov
    gov_ = LakeFormation(ctx)
    gov_.seed()
    info = gov_.show("silver.customer_tpch")
    analyst = [a for a in info["access"] if a["principal"] == gov_.principal]
    assert gov_.principal == "arn:aws:iam::123456789012:role/deplat-local-analyst"
    assert len(analyst) == 1 and analyst[0]["permissions"] == ["DESCRIBE", "SELECT"]
    assert analyst[0]["columns"] == ["customer_key", "market_segment"]
    assert analyst[0]["excluded"] == ["name", "address", "phone"]
    top = gov_.show("gold.top_customers")  # confidential table: nothing for the analyst
    assert [a for a in top["access"] if a["principal"] == gov_.principal] == []
    revenue = gov_.show("gold.daily_revenue")
    assert [a["columns"] for a in revenue["access"] if a["principal"] == gov_.principal] == [
        ["order_date", "revenue_base"]]


@pytest.mark.integration
def test_drift_is_planned_as_remove_and_add_and_repaired(gov):
    from deplat.governance import LakeFormation

    ctx, lf, glue, dbs, keys = gov
    gov_ = LakeFormation(ctx)
    gov_.seed()
    seeded = _snapshot(ctx)
    col = {"TableWithColumns": {"DatabaseName": dbs["silver"], "Name": "customer_tpch", "ColumnNames": ["phone"]}}
    lf.remove_lf_tags_from_resource(Resource=col, LFTags=[{"TagKey": keys["classification"], "TagValues": ["pii"]}])
    lf.add_lf_tags_to_resource(Resource=col, LFTags=[{"TagKey": keys["classification"], "TagValues": ["public"]}])
    stray = {"LFTagPolicy": {"ResourceType": "TABLE",
                             "Expression": [{"TagKey": keys["classification"], "TagValues": ["pii"]}]}}
    lf.grant_permissions(Principal={"DataLakePrincipalIdentifier": gov_.principal}, Resource=stray,
                         Permissions=["SELECT"])
    plan = gov_.seed(dry_run=True)
    moves = [(c.kind, c.action, c.resource, c.detail) for c in plan.changes if c.action != "keep"]
    assert moves == [
        ("tag", "remove", f"column {dbs['silver']}.customer_tpch.phone", f"{keys['classification']}=public"),
        ("tag", "add", f"column {dbs['silver']}.customer_tpch.phone", f"{keys['classification']}=pii"),
        ("grant", "remove", f"TABLE where {keys['classification']} IN (pii)", "SELECT")]
    gov_.seed()
    assert _snapshot(ctx) == seeded


@pytest.mark.integration
def test_cli_seed_and_show(gov):
    from typer.testing import CliRunner

    from deplat.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["lf", "seed", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "dry run" in r.output
    r = runner.invoke(app, ["-o", "json", "lf", "seed"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["changed"] is True
    r = runner.invoke(app, ["lf", "seed"])
    assert r.exit_code == 0 and "no change" in r.output
    r = runner.invoke(app, ["-o", "json", "lf", "show", "silver.customer_tpch"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["column_tags"]["name"]
    r = runner.invoke(app, ["lf", "show", "silver.nope"])
    assert r.exit_code == 2


# --- AWS semantics moto does not have (botocore Stubber) ------------------------------------------


class _Ctx:
    """Just what LakeFormation reads from a Context."""

    def __init__(self, settings):
        from types import SimpleNamespace

        self.settings = settings
        self.env = SimpleNamespace(is_local=False, name="dev")
        self._outputs = {"glue_database_silver": "p_dev_silver", "glue_database_gold": "p_dev_gold",
                         "lf_tags": {"classification": "p_dev_classification", "layer": "p_dev_layer"}}

    def output(self, key):
        return self._outputs[key]

    def outputs(self, required=True):
        return self._outputs


def _stubbed():
    import boto3
    from botocore.stub import Stubber

    from deplat.core.config import load_settings
    from deplat.governance import LakeFormation

    lf, glue = boto3.client("lakeformation", region_name="eu-west-1"), boto3.client("glue", region_name="eu-west-1")
    gov = LakeFormation(_Ctx(load_settings(ROOT / "config" / "deplat.yaml")), lf, glue, account_id="111122223333")
    return gov, Stubber(lf)


def test_existing_tag_is_extended_never_recreated():
    """AWS refuses CreateLFTag on an existing key: seed adds the missing values with UpdateLFTag."""
    gov, stub = _stubbed()
    stub.add_response("list_lf_tags", {"LFTags": [
        {"TagKey": "p_dev_classification", "TagValues": ["public", "internal"]},
        {"TagKey": "p_dev_layer", "TagValues": ["bronze", "silver", "gold"]}]})
    stub.add_response("update_lf_tag", {}, {"TagKey": "p_dev_classification", "TagValuesToAdd": ["pii"]})
    from deplat.governance import SeedResult

    result = SeedResult(False, gov.principal)
    want = {("column", "p_dev_silver", "customer_tpch", "name"): {"p_dev_classification": "pii"},
            ("db", "p_dev_silver"): {"p_dev_layer": "silver"}}
    with stub:
        gov._seed_tag_values(want, result, dry_run=False)
    stub.assert_no_pending_responses()
    assert [(c.action, c.resource) for c in result.changes] == [
        ("add", "p_dev_classification"), ("keep", "p_dev_layer")]


def test_add_failures_are_errors_and_a_changed_value_is_removed_first():
    """AddLFTagsToResource reports Failures without raising; one value per key on AWS."""
    from deplat.governance import GovernanceError, SeedResult

    gov, stub = _stubbed()
    res = ("table", "p_dev_gold", "top_customers")
    resource = {"Table": {"DatabaseName": "p_dev_gold", "Name": "top_customers"}}
    stub.add_response("remove_lf_tags_from_resource", {}, {
        "Resource": resource, "LFTags": [{"TagKey": "p_dev_classification", "TagValues": ["public"]}]})
    stub.add_response("add_lf_tags_to_resource", {"Failures": [{
        "LFTag": {"TagKey": "p_dev_classification", "TagValues": ["confidential"]},
        "Error": {"ErrorCode": "InvalidInputException", "ErrorMessage": "Tag value does not exist"}}]}, {
        "Resource": resource, "LFTags": [{"TagKey": "other_team_tag", "TagValues": ["x"]},
                                         {"TagKey": "p_dev_classification", "TagValues": ["confidential"]}]})
    with stub, pytest.raises(GovernanceError) as err:
        gov._seed_assignments({res: {"p_dev_classification": "confidential"}},
                              {res: {"p_dev_classification": "public", "other_team_tag": "x"}},
                              SeedResult(False, gov.principal), dry_run=False)
    stub.assert_no_pending_responses()
    assert "Tag value does not exist" in err.value.message and err.value.exit_code == 3


def test_principal_template_expands_account_project_env():
    gov, _ = _stubbed()
    assert gov.principal == "arn:aws:iam::111122223333:role/deplat-dev-analyst"
