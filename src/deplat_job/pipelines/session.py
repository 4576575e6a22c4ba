"""The SparkSession factory: Delta enabled everywhere; sized for a 2-core machine when local.

On EMR Serverless the job run's sparkSubmitParameters carry the jars and resources, so only the
Delta settings are applied here. Locally, the engine exports DEPLAT_SPARK_MASTER and
DEPLAT_SPARK_JARS (the offline jar cache).
"""

from __future__ import annotations

import os

from deplat_job.shared import DELTA_CONF

__all__ = ["DELTA_CONF", "LOCAL_CONF", "get_spark"]

LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.driver.memory": "2g",
    "spark.sql.sources.partitionOverwriteMode": "static",
    # Nothing local listens outside loopback (the driver's RPC and block manager ports).
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}


def get_spark(
    app_name: str,
    master: str | None = None,
    jars: list[str] | None = None,
    extra_conf: dict[str, str] | None = None,
):
    """Build (or return the active) SparkSession with Delta Lake enabled."""
    from pyspark.sql import SparkSession

    master = master or os.environ.get("DEPLAT_SPARK_MASTER")
    if jars is None and os.environ.get("DEPLAT_SPARK_JARS"):
        jars = os.environ["DEPLAT_SPARK_JARS"].split(",")
    builder = SparkSession.builder.appName(app_name)
    conf = dict(DELTA_CONF)
    if master:
        builder = builder.master(master)
        conf.update(LOCAL_CONF)
        conf["spark.sql.warehouse.dir"] = os.environ.get("DEPLAT_SPARK_WAREHOUSE", "/tmp/deplat-warehouse")
    if jars:
        conf["spark.jars"] = ",".join(jars)
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("DEPLAT_SPARK_LOG_LEVEL", "WARN"))
    print(runtime_banner(), flush=True)
    return spark


def runtime_banner() -> str:
    """One driver-log line naming what the job really runs on: the interpreter, where `deplat_job`,
    pyspark and boto3 were imported from (the job package, the runtime, the dependency archive)."""
    import importlib.util
    import platform
    import sys

    import deplat_job

    def origin(name: str) -> str:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        return (spec.origin or "?") if spec else "missing"

    return (f"deplat job runtime: Python {platform.python_version()} ({sys.executable}); "
            f"deplat_job {deplat_job.__file__}; pyspark {origin('pyspark')}; boto3 {origin('boto3')}")
