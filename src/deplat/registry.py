"""Named pipelines: each an ordered list of job steps (jobs/<step>.py) with their static arguments.

`deplat run <pipeline>` submits the steps in order; `all` runs the batch pipelines end to end. A CLI
concept (what to submit, its lineage datasets, its gates): no job imports it, so it is not in the job
package.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    """One job step, jobs/<name>.py, and everything the CLI side knows about it, declared once.

    name: the job script's stem. args: static arguments after the common ones (--lake --batch-id --env).
    description: one line for help and reports.
    inputs/outputs: its OpenLineage datasets, `<layer>.<table>` for lake tables, `<system>:<name>` for
      sources (`deplat run` emits START/COMPLETE/FAIL with them). Declared, not inferred: the jobs'
      Delta MERGE reads are where the Spark listener drops inputs (OpenLineage#3942).
    partitioned: the job honours --partition-date (`deplat run --partition-date`, backfills and
      `dr reprocess` refuse a date for a step that is not; tests/unit/deplat/test_runs.py checks the flag
      against the job's source).
    config: the config section whose `job_args()` the step also takes ("" = none; today "snowflake":
      the tables' change tracking).
    gate: a DQ gate (jobs/dq_check.py): the lake tables whose dq/suites must pass before later steps run.
    streaming: a stream: long-running, submitted as an EMR Serverless STREAMING job run.
    secret: the source whose credentials secret the job reads; the step runs as that source's role (the
      only role that may read it). "" = the job role, which reads no secret.
    """

    name: str
    args: tuple[str, ...] = ()
    description: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    partitioned: bool = False
    config: str = ""
    gate: tuple[str, ...] = ()
    streaming: bool = False
    secret: str = ""


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    description: str = ""


# The silver tables the gold pipeline reads (orders_silver: the TPC-H three; gold_aggregates: orders, fx_rates).
GOLD_INPUTS = ("silver.orders_tpch", "silver.customer_tpch", "silver.nation_tpch", "silver.orders",
               "silver.fx_rates")
_TPCH = ("orders", "customer", "lineitem", "nation")
_DMS_SOURCES = ("postgres:app.customers", "postgres:app.orders")

STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step("fx_to_bronze", inputs=("ecb:eurofxref-hist",), outputs=("bronze.fx_rates",), partitioned=True),
        Step("fx_bronze_to_silver", inputs=("bronze.fx_rates",), outputs=("silver.fx_rates",), partitioned=True),
        Step("snowflake_to_bronze", secret="snowflake", config="snowflake",
             inputs=tuple(f"snowflake:TPCH.{t.upper()}" for t in _TPCH),
             outputs=tuple(f"bronze.snowflake_{t}" for t in _TPCH)),
        Step("snowflake_bronze_to_silver_merge", config="snowflake",
             inputs=tuple(f"bronze.snowflake_{t}" for t in _TPCH), outputs=tuple(f"silver.{t}_tpch" for t in _TPCH)),
        Step("salesforce_to_bronze", secret="salesforce", inputs=("salesforce:Account", "salesforce:Opportunity"),
             outputs=("bronze.salesforce_account", "bronze.salesforce_opportunity")),
        Step("salesforce_bronze_to_silver", partitioned=True,
             inputs=("bronze.salesforce_account", "bronze.salesforce_opportunity"),
             outputs=("silver.salesforce_account", "silver.salesforce_opportunity")),
        Step("dms_rds_to_bronze", inputs=_DMS_SOURCES, outputs=("bronze.dms_app_customers", "bronze.dms_app_orders")),
        Step("dms_bronze_to_silver", partitioned=True,
             inputs=("bronze.dms_app_customers", "bronze.dms_app_orders"),
             outputs=("silver.rds_customers", "silver.rds_orders")),
        # Locally (and in `deplat run`) the stream drains the topic and stops: Trigger.AvailableNow.
        Step("kafka_orders_stream", ("--available-now",), streaming=True, secret="kafka",
             inputs=("kafka:orders_events",), outputs=("bronze.orders_events",)),
        Step("orders_silver", partitioned=True,
             inputs=("silver.orders_tpch", "silver.customer_tpch", "silver.nation_tpch", "bronze.orders_events"),
             outputs=("silver.orders",)),
        Step("dq_check", gate=GOLD_INPUTS, inputs=GOLD_INPUTS, outputs=("gold.quality_results",)),
        Step("gold_aggregates", inputs=("silver.orders", "silver.fx_rates"),
             outputs=("gold.customer_spend", "gold.daily_revenue", "gold.monthly_revenue_by_currency",
                      "gold.top_customers", "gold.fx_monthly")),
        Step("delta_maintenance"),
        Step("dms_key_snapshot", secret="rds", inputs=_DMS_SOURCES, outputs=("_landing.dms_keys",)),
        Step("delta_restore"),
    )
}


def _steps(*names: str) -> tuple[Step, ...]:
    return tuple(STEPS[n] for n in names)


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline("fx", _steps("fx_to_bronze", "fx_bronze_to_silver"), "ECB euro reference rates -> silver.fx_rates"),
        Pipeline("snowflake", _steps("snowflake_to_bronze", "snowflake_bronze_to_silver_merge"),
                 "TPC-H backfill from Snowflake, MERGE into silver"),
        Pipeline("salesforce", _steps("salesforce_to_bronze", "salesforce_bronze_to_silver"),
                 "Salesforce accounts/opportunities, incremental on SystemModstamp"),
        Pipeline("dms", _steps("dms_rds_to_bronze", "dms_bronze_to_silver"),
                 "RDS changes via DMS (full load + CDC) -> current rows in silver"),
        Pipeline("kafka", _steps("kafka_orders_stream"),
                 "Kafka order events -> bronze.orders_events exactly once, bad events to the DLQ"),
        Pipeline("gold", _steps("orders_silver", "dq_check", "gold_aggregates"),
                 "silver.orders, the DQ gate on the silver tables gold reads, the gold aggregates"),
        Pipeline("dq", _steps("dq_check"), "the DQ gate alone (`deplat dq check` for one table)"),
        Pipeline("maintenance", _steps("delta_maintenance"), "OPTIMIZE / VACUUM the Delta tables"),
        Pipeline("reconcile", _steps("dms_key_snapshot"),
                 "a key snapshot of DMS source tables (`deplat dr reconcile` passes --tables)"),
        Pipeline("restore", _steps("delta_restore"),
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


def datasets(step: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs) a step declares (Step.inputs/outputs); ((), ()) for a step it does not know."""
    st = STEPS.get(step)
    return (st.inputs, st.outputs) if st else ((), ())


def config_args(settings: object, step: Step) -> tuple[str, ...]:
    """The arguments a step takes from its config section (Step.config), () for none.
    Settings without the section (a caller's partial settings) give the section's defaults."""
    from deplat.core.config import section_job_args

    return section_job_args(settings, step.config) if step.config else ()
