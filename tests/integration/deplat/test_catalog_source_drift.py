"""`deplat catalog diff` names a DMS source column whose type widened (its values no longer fit the
silver table's declared type): the Glue and Delta schemas still agree, so only the drift state the
DMS silver step keeps can tell; diff exits 1 until the state is clear again."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _drift_state(lake: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    schema = pa.schema([("column", pa.string()), ("declared", pa.string()), ("needed", pa.string()),
                        ("rejected_changes", pa.int64()), ("held_back", pa.int64()),
                        ("held_back_keys", pa.string()), ("batch_id", pa.string())])
    write_deltalake(str(lake / "_state" / "dms" / "schema_drift_rds_orders"),
                    pa.Table.from_pylist(rows, schema=schema), mode="overwrite")


@pytest.fixture
def env(local_stack, deplat_env):
    from decimal import Decimal

    import pyarrow as pa
    from deltalake import write_deltalake

    from deplat.core.config import load_settings
    from deplat.core.context import Context

    suffix = uuid.uuid4().hex[:8]
    dbs = {"silver": f"it_drift_silver_{suffix}", "gold": f"it_drift_gold_{suffix}"}
    lake = deplat_env(outputs={f"glue_database_{k}": v for k, v in dbs.items()}).lake
    ctx = Context(settings=load_settings(ROOT / "config" / "deplat.yaml"))
    glue = ctx.aws.client("glue")
    for name in dbs.values():
        glue.create_database(DatabaseInput={"Name": name})
    write_deltalake(str(lake / "silver" / "rds_orders"), pa.table(
        {"order_id": pa.array([2], pa.int64()), "amount": pa.array([Decimal("30.50")], pa.decimal128(12, 2))}))
    yield ctx, lake
    for name in dbs.values():
        glue.delete_database(Name=name)


def test_diff_names_the_source_type_drift_and_the_keys_held_back(env):
    from deplat.catalog import reconcile

    ctx, lake = env
    reconcile(ctx, ["silver"])  # registered: Glue matches the Delta log
    assert [a.action for a in reconcile(ctx, ["silver"], apply=False).actions] == ["unchanged"]
    _drift_state(lake, [{"column": "amount", "declared": "decimal(12,2)", "needed": "decimal(14,4)",
                         "rejected_changes": 1, "held_back": 1, "held_back_keys": "1", "batch_id": "b2"}])
    result = reconcile(ctx, ["silver"], apply=False)
    [act] = result.actions
    assert act.action == "source_drift" and result.drift
    assert act.changes == ["source drift: amount decimal(12,2) -> values need decimal(14,4); "
                           "1 key held back from silver: 1"]
    _drift_state(lake, [])  # the next silver run found no drift
    assert [a.action for a in reconcile(ctx, ["silver"], apply=False).actions] == ["unchanged"]
