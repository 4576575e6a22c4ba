"""`deplat catalog` against the real moto server: Glue tables from Delta logs, idempotence, a schema
change as a column diff + update_table, orphans pruned only with --yes, `diff` exits 1 on drift."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _write(path, data: dict, mode: str = "error", partition_by=None, schema_mode=None):
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(path), pa.table(data), mode=mode, partition_by=partition_by, schema_mode=schema_mode)


@pytest.fixture
def env(local_stack, deplat_env):
    """A local Context whose lake is a temp folder and whose Glue databases are fresh on moto."""
    import datetime as dt

    from deplat.core.config import load_settings
    from deplat.core.context import Context

    suffix = uuid.uuid4().hex[:8]
    dbs = {"silver": f"it_cat_silver_{suffix}", "gold": f"it_cat_gold_{suffix}"}
    lake = deplat_env(outputs={f"glue_database_{k}": v for k, v in dbs.items()}).lake
    ctx = Context(settings=load_settings(ROOT / "config" / "deplat.yaml"))
    glue = ctx.aws.client("glue")
    for name in dbs.values():
        glue.create_database(DatabaseInput={"Name": name})
    _write(lake / "silver" / "fx_rates", {"ccy": ["USD"], "rate_to_base": [1.1],
                                          "as_of_date": [dt.date(2024, 1, 2)]}, partition_by=["as_of_date"])
    _write(lake / "silver" / "orders", {"order_id": ["o1"], "total_amount": [1], "currency": ["USD"]})
    (lake / "silver" / "not_delta").mkdir(parents=True)
    yield ctx, glue, dbs, lake
    for name in dbs.values():
        glue.delete_database(Name=name)


def test_register_creates_tables_with_delta_columns_then_is_idempotent(env):
    from deplat.catalog import MANAGED_PARAMETERS, reconcile

    ctx, glue, dbs, lake = env
    first = reconcile(ctx, ["silver"])
    assert [(a.table, a.action, a.applied) for a in first.actions] == [
        ("fx_rates", "create", True), ("orders", "create", True)]
    fx = glue.get_table(DatabaseName=dbs["silver"], Name="fx_rates")["Table"]
    sd = fx["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [("ccy", "string"), ("rate_to_base", "double")]
    assert [(c["Name"], c["Type"]) for c in fx["PartitionKeys"]] == [("as_of_date", "date")]
    location = (lake / "silver" / "fx_rates").resolve().as_uri() + "/"
    assert sd["Location"] == sd["SerdeInfo"]["Parameters"]["path"] == location
    assert {k: fx["Parameters"][k] for k in MANAGED_PARAMETERS} == MANAGED_PARAMETERS
    orders = glue.get_table(DatabaseName=dbs["silver"], Name="orders")["Table"]
    assert [(c["Name"], c["Type"]) for c in orders["StorageDescriptor"]["Columns"]] == [
        ("order_id", "string"), ("total_amount", "bigint"), ("currency", "string")]

    second = reconcile(ctx, ["silver"])
    assert {a.action for a in second.actions} == {"unchanged"}
    assert not second.changed and not second.drift
    assert len(glue.get_table_versions(DatabaseName=dbs["silver"], TableName="orders")["TableVersions"]) == 1


def test_added_column_is_shown_and_applied_as_exactly_that_diff(env):
    from deplat.catalog import reconcile

    ctx, glue, dbs, lake = env
    reconcile(ctx, ["silver"])
    _write(lake / "silver" / "orders", {"order_id": ["o2"], "total_amount": [2], "currency": ["EUR"],
                                        "status": ["PAID"]}, mode="append", schema_mode="merge")
    plan = reconcile(ctx, ["silver"], apply=False)
    assert [(a.table, a.action, a.changes) for a in plan.actions] == [
        ("fx_rates", "unchanged", []), ("orders", "update", ["+ status string"])]
    assert [c["Name"] for c in glue.get_table(DatabaseName=dbs["silver"], Name="orders")["Table"]
            ["StorageDescriptor"]["Columns"]] == ["order_id", "total_amount", "currency"]  # dry run
    done = reconcile(ctx, ["silver"], table="orders")
    assert [(a.action, a.applied, a.changes, a.version) for a in done.actions] == [
        ("update", True, ["+ status string"], 1)]
    cols = glue.get_table(DatabaseName=dbs["silver"], Name="orders")["Table"]["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in cols] == ["order_id", "total_amount", "currency", "status"]
    assert {a.action for a in reconcile(ctx, ["silver"]).actions} == {"unchanged"}


def test_orphan_reported_then_pruned_only_with_yes(env):
    import shutil

    from deplat.catalog import reconcile
    from deplat_job.errors import SafetyError

    ctx, glue, dbs, lake = env
    reconcile(ctx, ["silver"])
    shutil.rmtree(lake / "silver" / "fx_rates")
    plan = reconcile(ctx, ["silver"])
    assert [(a.table, a.action, a.applied) for a in plan.actions] == [
        ("orders", "unchanged", False), ("fx_rates", "orphan", False)]
    with pytest.raises(SafetyError):
        reconcile(ctx, ["silver"], prune=True)
    assert reconcile(ctx, ["silver"], apply=False, prune=True).actions[1].action == "prune"
    glue.get_table(DatabaseName=dbs["silver"], Name="fx_rates")  # the dry run deleted nothing
    done = reconcile(ctx, ["silver"], prune=True, yes=True)
    assert [(a.table, a.action, a.applied) for a in done.actions][1] == ("fx_rates", "prune", True)
    assert [t["Name"] for t in glue.get_tables(DatabaseName=dbs["silver"])["TableList"]] == ["orders"]


def test_cli_register_list_diff(env):
    from typer.testing import CliRunner

    from deplat.cli import app

    ctx, glue, dbs, lake = env
    runner = CliRunner()
    r = runner.invoke(app, ["catalog", "diff", "--layer", "silver"])
    assert r.exit_code == 1, r.output
    r = runner.invoke(app, ["catalog", "register", "--layer", "silver", "--dry-run"])
    assert r.exit_code == 0 and glue.get_tables(DatabaseName=dbs["silver"])["TableList"] == []
    r = runner.invoke(app, ["catalog", "register", "--layer", "silver"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["catalog", "register", "--layer", "silver"])
    assert r.exit_code == 0 and "no change" in r.output
    r = runner.invoke(app, ["catalog", "diff", "--layer", "silver"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["-o", "json", "catalog", "list", "--layer", "silver"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        {"table": "silver.fx_rates", "database": dbs["silver"], "version": 0, "rows": 1, "state": "registered",
         "missing_files": []},
        {"table": "silver.orders", "database": dbs["silver"], "version": 0, "rows": 1, "state": "registered",
         "missing_files": []}]
    r = runner.invoke(app, ["catalog", "register", "--table", "nope", "--layer", "silver"])
    assert r.exit_code == 2 and "nope" in r.output


def test_a_moved_lake_is_one_location_change_per_table(env, monkeypatch):
    import shutil

    from deplat.catalog import reconcile

    ctx, glue, dbs, lake = env
    reconcile(ctx, ["silver"], table="orders")
    moved = lake.parent / "moved"
    shutil.copytree(lake, moved)
    monkeypatch.setenv("DEPLAT_LAKE_URI", str(moved))
    from deplat.core.config import load_settings
    from deplat.core.context import Context

    plan = reconcile(Context(settings=load_settings(ROOT / "config" / "deplat.yaml")), ["silver"],
                     table="orders", apply=False)
    old, new = (p.resolve().as_uri() + "/orders/" for p in (lake / "silver", moved / "silver"))
    assert [(a.action, a.changes) for a in plan.actions] == [("update", [f"Location: {old} -> {new}"])]
