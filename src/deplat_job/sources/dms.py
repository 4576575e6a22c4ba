"""Reader of AWS DMS S3-target files: <landing>/<schema>/<table>/{LOAD*.csv, <timestamp>.csv}.

The endpoint writes CSV with a header row per file (AddColumnName=true): the Op column (in full-load
files only with IncludeOpForFullLoad=true), the commit-timestamp column (TimestampColumnName), the
change-sequence column (a transformation rule adding $AR_H_CHANGE_SEQ), then the table's columns as
they were when the file was written. NULL is written as the endpoint's explicit null marker
(CsvNullValue = DMS_NULL below), so an empty field is the empty string. terraform/dms.tf
declares exactly these settings. Listing goes through Hadoop's FileSystem, so the same code reads a
local folder or s3://.

Every file is read with its own header and its columns are matched by name: a file written after
a column was added or dropped at the source keeps every value in its own column.

Python 3.9-compatible: jobs import this on the EMR runtime.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

LANDING = "_landing/dms"
# The endpoint's CsvNullValue: written for SQL NULL, so that an empty field is the empty string.
# The DMS default writes both as an empty field; terraform/dms.tf and the local capture set this.
DMS_NULL = "\\N"
KEYS_LANDING = "_landing/dms_keys"
CORRUPT = "_corrupt_record"  # the raw line of a row whose field count does not match its header


def landing_root(lake: str) -> str:
    """<lake>/_landing/dms: where DMS (locally: deplat's capture) writes. The one landing-path helper."""
    return f"{lake.rstrip('/')}/{LANDING}"


def table_dir(lake: str, schema: str, table: str) -> str:
    return f"{landing_root(lake)}/{schema}/{table}"


def keys_dir(lake: str, schema: str, table: str) -> str:
    """<lake>/_landing/dms_keys/<schema>/<table>: key snapshots of the source, for reconciliation."""
    return f"{lake.rstrip('/')}/{KEYS_LANDING}/{schema}/{table}"


def key_snapshot_file(lake: str, snapshot) -> tuple[str, str]:
    """(path, CSV text) of a key snapshot (sources.rds.KeySnapshot): the one snapshot format.

    `<keys_dir>/KEYS-<yyyymmdd-hhmmssffffff>-<seq>.csv`, a header of the key columns, one key per
    line, NULL as the endpoint's null marker. The name carries the snapshot's time and change
    sequence, so names sort by time and the silver step knows which changes the snapshot saw.
    """
    schema, _, table = snapshot.table.partition(".")
    stamp = snapshot.taken_at.strftime("%Y%m%d-%H%M%S%f")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(snapshot.columns)
    writer.writerows([DMS_NULL if v is None else v for v in row] for row in snapshot.rows)
    return f"{keys_dir(lake, schema, table)}/KEYS-{stamp}-{snapshot.seq}.csv", out.getvalue()


def write_text(spark, path: str, text: str, chunk: int = 4 << 20) -> int:
    """Write `text` (UTF-8) to `path` through Hadoop's FileSystem (a local folder or s3://): into a
    hidden temporary file first, renamed into place, so a reader never lists a partial file.
    Returns the bytes written."""
    jvm = spark._jvm
    final, fs = _fs(spark, path)
    tmp = jvm.org.apache.hadoop.fs.Path(final.getParent(), f".{final.getName()}.tmp")
    data = text.encode("utf-8")
    out = fs.create(tmp, True)
    try:
        for i in range(0, len(data), chunk):
            out.write(bytearray(data[i:i + chunk]))
    finally:
        out.close()
    if not fs.rename(tmp, final):
        raise OSError(f"could not move {tmp.toString()} to {path}")
    return len(data)


def _fs(spark, folder: str):
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    return path, path.getFileSystem(spark._jsc.hadoopConfiguration())


def list_files(spark, folder: str) -> list[str]:
    """The .csv files directly in `folder` (hidden and temporary files skipped), sorted by name."""
    path, fs = _fs(spark, folder)
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


def read_header(spark, file: str) -> tuple[str, ...]:
    """The column names in the first line of one CSV file (read through Hadoop: local or s3://)."""
    jvm = spark._jvm
    path, fs = _fs(spark, file)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(fs.open(path), "UTF-8"))
    try:
        line = reader.readLine()
    finally:
        reader.close()
    if not line:
        return ()
    return tuple(next(csv.reader([line.lstrip("\ufeff")])))


def parse_file(name: str, data: bytes, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """One DMS CSV file -> rows in `columns` order (+ _file, _corrupt_record), mapped by its header.

    Python's csv module reads quoted fields, embedded commas, quotes and newlines as DMS writes
    them; the endpoint's null marker becomes None and an empty field stays the empty string
    (Spark's CSV reader cannot keep the two apart: it reads an unquoted empty field as NULL).
    A line whose field count differs from the header is kept whole in `_corrupt_record`.
    """
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        return
    index = {c: i for i, c in enumerate(header)}
    slots = [index.get(c) for c in columns]
    for fields in reader:
        if not fields:
            continue  # a trailing empty line
        if len(fields) != len(header):
            yield (*([None] * len(columns)), name, ",".join(fields))
            continue
        values = [None if i is None or fields[i] == DMS_NULL else fields[i] for i in slots]
        yield (*values, name, None)


def read_files(spark, files: list[str]):
    """The rows of the given DMS files, every column a string, plus `_file` (the file's name) and
    `_corrupt_record` (the raw line when its field count does not match the header, else null).

    Each file is parsed with its own header and its values are placed by column name, so a column
    a file lacks is null for that file's rows. Returns (DataFrame or None when no file has a
    header, the columns of all headers in first-seen order).
    """
    from pyspark.sql.types import StringType, StructField, StructType

    columns: list[str] = []
    for f in files:
        header = read_header(spark, f)
        if len(set(header)) != len(header):
            raise ValueError(f"duplicate column names in the header of {f}: {list(header)}")
        columns += [c for c in header if c not in columns]
    if not columns:
        return None, columns
    schema = StructType([StructField(c, StringType(), True) for c in (*columns, "_file", CORRUPT)])
    wanted = list(columns)
    rdd = spark.sparkContext.binaryFiles(",".join(files), minPartitions=max(1, min(len(files), 64)))
    rows = rdd.flatMap(lambda kv: parse_file(file_name(kv[0]), kv[1], wanted))
    return spark.createDataFrame(rows, schema), columns


def read_key_snapshot(spark, lake: str, schema: str, table: str):
    """(the key columns as strings, the file's name) of the newest key snapshot, or None.

    Files are KEYS-<yyyymmdd-hhmmssffffff>-<change sequence>.csv with a header of key columns.
    """
    files = list_files(spark, keys_dir(lake, schema, table))
    if not files:
        return None
    newest = files[-1]  # KEYS-<yyyymmdd-hhmmssffffff>.csv: names sort by time
    keys, _ = read_files(spark, [newest])
    if keys is None:
        raise ValueError(f"key snapshot {newest} has no header")
    return keys.drop("_file", CORRUPT), file_name(newest)
