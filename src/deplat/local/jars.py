"""The Spark jar cache: Delta, the Kafka connector and hadoop-aws, resolved from Maven Central once.

Resolution runs Spark's own Ivy once (`spark-submit --packages`); afterwards the flat jar list is
passed as `spark.jars`, so sessions start offline with no resolver in the way.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from deplat.core.config import cache_dir
from deplat.core.proc import run

HADOOP_VERSION = "3.3.4"  # the Hadoop that pyspark 3.5 bundles; hadoop-aws must match it
# Maven Central has no spark-sql-kafka 3.5.8/3.5.9 (404 on 2026-11-26); 3.5.7 is the newest of the line.
KAFKA_CONNECTOR_VERSION = "3.5.7"


def coordinates() -> list[str]:
    delta = version("delta-spark")
    return [
        f"io.delta:delta-spark_2.12:{delta}",
        f"org.apache.spark:spark-sql-kafka-0-10_2.12:{KAFKA_CONNECTOR_VERSION}",
        f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}",
    ]


def _manifest() -> Path:
    return cache_dir() / "jars.json"


def cached_jars() -> list[str] | None:
    """The cached jar paths if the cache matches today's coordinates, else None."""
    path = _manifest()
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("coordinates") != coordinates():
        return None
    jars = record.get("jars", [])
    return jars if jars and all(Path(j).is_file() for j in jars) else None


def ensure_jars(timeout: float = 900) -> list[str]:
    """Resolve the jars once (network), then return them from the cache (offline)."""
    jars = cached_jars()
    if jars:
        return jars
    ivy = cache_dir() / "ivy"
    ivy.mkdir(parents=True, exist_ok=True)
    from pyspark.find_spark_home import _find_spark_home

    submit = Path(_find_spark_home()) / "bin" / "spark-submit"
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop.py"
        noop.write_text("pass\n")
        cmd = [str(submit), "--master", "local[1]", "--packages", ",".join(coordinates()),
               "--conf", f"spark.jars.ivy={ivy}", str(noop)]
        run(cmd, timeout=timeout, env={"PYSPARK_PYTHON": sys.executable},
            what="resolving the Spark jars from Maven Central",
            hint="check network access to repo1.maven.org; the resolver output is below")
    jars = sorted(str(p) for p in (ivy / "jars").glob("*.jar"))
    _manifest().write_text(json.dumps({"coordinates": coordinates(), "jars": jars}, indent=2))
    return jars
