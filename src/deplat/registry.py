"""Named pipelines: each an ordered list of job steps (jobs/<step>.py) with their static arguments.

`deplat run <pipeline>` submits the steps in order; `all` runs the batch pipelines end to end. A CLI
concept (what to submit, its lineage datasets, its gates): no job imports it, so it is not in the job
package.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    name: str  # jobs/<name>.py
    args: tuple[str, ...] = ()
    description: str = ""
    # A DQ gate (jobs/dq_check.py): the lake tables whose dq/suites must pass before later steps run.
    gate: tuple[str, ...] = ()
    # A stream: long-running, killed and restarted as a unit (the local engine gives it its own driver).
    streaming: bool = False
    # The source whose credentials secret the job reads: the step runs as that source's role (the only
    # role that may read it); "" = the job role, which reads no secret.
    secret: str = ""


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    description: str = ""


# The silver tables the gold pipeline reads (orders_silver: the TPC-H three; gold_aggregates: orders, fx_rates).
GOLD_INPUTS = ("silver.orders_tpch", "silver.customer_tpch", "silver.nation_tpch", "silver.orders",
               "silver.fx_rates")

PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline("fx", (Step("fx_to_bronze"), Step("fx_bronze_to_silver")),
                 "ECB euro reference rates -> silver.fx_rates"),
        Pipeline("snowflake", (Step("snowflake_to_bronze", secret="snowflake"),
                               Step("snowflake_bronze_to_silver_merge")),
                 "TPC-H backfill from Snowflake, MERGE into silver"),
        Pipeline("salesforce", (Step("salesforce_to_bronze", secret="salesforce"), Step("salesforce_bronze_to_silver")),
                 "Salesforce accounts/opportunities, incremental on SystemModstamp"),
        Pipeline("dms", (Step("dms_rds_to_bronze"), Step("dms_bronze_to_silver")),
                 "RDS changes via DMS (full load + CDC) -> current rows in silver"),
        # Locally (and in `deplat run`) the stream drains the topic and stops: Trigger.AvailableNow.
        Pipeline("kafka", (Step("kafka_orders_stream", ("--available-now",), streaming=True, secret="kafka"),),
                 "Kafka order events -> bronze.orders_events exactly once, bad events to the DLQ"),
        Pipeline("gold", (Step("orders_silver"), Step("dq_check", gate=GOLD_INPUTS), Step("gold_aggregates")),
                 "silver.orders, the DQ gate on the silver tables gold reads, the gold aggregates"),
        Pipeline("dq", (Step("dq_check", gate=GOLD_INPUTS),), "the DQ gate alone (`deplat dq check` for one table)"),
        Pipeline("maintenance", (Step("delta_maintenance"),), "OPTIMIZE / VACUUM the Delta tables"),
        Pipeline("reconcile", (Step("dms_key_snapshot", secret="rds"),),
                 "a key snapshot of DMS source tables (`deplat dr reconcile` passes --tables)"),
        Pipeline("restore", (Step("delta_restore"),),
                 "Delta RESTORE of one table (`deplat dr restore` passes --table and --version)"),
    )
}

# `all` = the batch pipelines in dependency order (gold reads what the others wrote).
ALL = ("fx", "snowflake", "salesforce", "dms", "gold")


def pipeline_names() -> list[str]:
    """Every name `deplat run` takes, in registry order, `all` last (help, errors and the README follow it)."""
    return [*PIPELINES, "all"]


def resolve(name: str) -> list[tuple[str, Step]]:
    """(pipeline, step) pairs for a pipeline name or `all`; KeyError for an unknown name."""
    names = ALL if name == "all" else (name,)
    return [(n, step) for n in names for step in PIPELINES[n].steps]


# What each step reads and writes, for OpenLineage (`deplat run` emits START/COMPLETE/FAIL with
# these): `<layer>.<table>` for lake tables, `<system>:<name>` for sources. Declared statically
# because the jobs' Delta MERGE reads are where the Spark listener drops inputs (OpenLineage#3942);
# tests/unit/test_lineage.py checks the names against the source and table specs.
_TPCH = ("orders", "customer", "lineitem", "nation")
DATASETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fx_to_bronze": (("ecb:eurofxref-hist",), ("bronze.fx_rates",)),
    "fx_bronze_to_silver": (("bronze.fx_rates",), ("silver.fx_rates",)),
    "snowflake_to_bronze": (tuple(f"snowflake:TPCH.{t.upper()}" for t in _TPCH),
                            tuple(f"bronze.snowflake_{t}" for t in _TPCH)),
    "snowflake_bronze_to_silver_merge": (tuple(f"bronze.snowflake_{t}" for t in _TPCH),
                                         tuple(f"silver.{t}_tpch" for t in _TPCH)),
    "salesforce_to_bronze": (("salesforce:Account", "salesforce:Opportunity"),
                             ("bronze.salesforce_account", "bronze.salesforce_opportunity")),
    "salesforce_bronze_to_silver": (("bronze.salesforce_account", "bronze.salesforce_opportunity"),
                                    ("silver.salesforce_account", "silver.salesforce_opportunity")),
    "dms_rds_to_bronze": (("postgres:app.customers", "postgres:app.orders"),
                          ("bronze.dms_app_customers", "bronze.dms_app_orders")),
    "dms_bronze_to_silver": (("bronze.dms_app_customers", "bronze.dms_app_orders"),
                             ("silver.rds_customers", "silver.rds_orders")),
    "dms_key_snapshot": (("postgres:app.customers", "postgres:app.orders"),
                         ("_landing.dms_keys",)),
    "kafka_orders_stream": (("kafka:orders_events",), ("bronze.orders_events",)),
    "orders_silver": (("silver.orders_tpch", "silver.customer_tpch", "silver.nation_tpch", "bronze.orders_events"),
                      ("silver.orders",)),
    "dq_check": (GOLD_INPUTS, ("gold.quality_results",)),
    "gold_aggregates": (("silver.orders", "silver.fx_rates"),
                        ("gold.customer_spend", "gold.daily_revenue", "gold.monthly_revenue_by_currency",
                         "gold.top_customers", "gold.fx_monthly")),
}
