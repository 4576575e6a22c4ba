"""Reader of AWS DMS S3-target files: <landing>/<schema>/<table>/{LOAD*.csv, <timestamp>.csv}.

The endpoint writes CSV with a header row (AddColumnName=true): Op, the commit-timestamp column
(TimestampColumnName), the change-sequence column, then the table's columns; NULL is an empty field.
Listing goes through Hadoop's FileSystem, so the same code reads a local folder or s3://.

Python 3.9-compatible: jobs import this on the EMR runtime.
"""

from __future__ import annotations

LANDING = "_landing/dms"


def landing_root(lake: str) -> str:
    """<lake>/_landing/dms: where DMS (locally: deplat's capture) writes."""
    return f"{lake.rstrip('/')}/{LANDING}"


def table_dir(lake: str, schema: str, table: str) -> str:
    return f"{landing_root(lake)}/{schema}/{table}"


def list_files(spark, folder: str) -> list[str]:
    """The .csv files directly in `folder` (hidden and temporary files skipped), sorted by name."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return []
    out = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if status.isFile() and name.endswith(".csv") and not name.startswith((".", "_")):
            out.append(status.getPath().toString())
    return sorted(out)


def file_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def read_files(spark, files: list[str]):
    """The rows of the given DMS files, every column a string, plus `_file` (the file's name)."""
    from pyspark.sql import functions as F

    df = (spark.read.option("header", True).option("multiLine", True).option("escape", '"')
          .option("mode", "PERMISSIVE").csv(files))
    return df.withColumn("_file", F.element_at(F.split(F.input_file_name(), "/"), -1))
