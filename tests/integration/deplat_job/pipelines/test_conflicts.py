"""Delta write conflicts between concurrent jobs (a backfill's dates writing one table at once): the
conflict is recognised from the JVM exception's class, and the fx writers retry it.

The concurrent writer is real: delta-rs overwrites the table from inside the Spark job's own
computation, i.e. after the Spark transaction read its snapshot and before it commits."""

from __future__ import annotations

import datetime as dt

import pytest

from deplat_job.pipelines.conflicts import delta_conflict, retry_on_conflict

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_delta_conflict_reads_the_jvm_class_hierarchy(spark):
    from py4j.protocol import Py4JJavaError

    jvm = spark._jvm
    append = jvm.io.delta.exceptions.ConcurrentAppendException("files were added")
    assert delta_conflict(Py4JJavaError("o84.save", append)) == "ConcurrentAppendException"
    wrapped = jvm.java.lang.RuntimeException("job aborted", jvm.io.delta.exceptions.ProtocolChangedException("x"))
    assert delta_conflict(Py4JJavaError("o84.save", wrapped)) == "ProtocolChangedException"
    other = jvm.java.lang.IllegalStateException("ConcurrentAppendException in a message is not a conflict")
    assert delta_conflict(Py4JJavaError("o84.save", other)) is None
    assert delta_conflict(ValueError("plain Python")) is None


def test_delta_conflict_knows_delta_sparks_python_classes(spark):
    """Where delta-spark's Python package is imported (the warm driver) PySpark converts the JVM conflict
    into delta.exceptions.ConcurrentAppendException & co.: flat CapturedException subclasses, no JVM origin."""
    from delta import exceptions

    err = exceptions.ConcurrentAppendException("Files were added", "trace", None)
    assert delta_conflict(err) == "ConcurrentAppendException"
    assert delta_conflict(exceptions.ProtocolChangedException("x", "t", None)) == "ProtocolChangedException"


def test_retry_gives_up_after_the_attempts_and_passes_other_errors_on(spark):
    from py4j.protocol import Py4JJavaError

    conflict = Py4JJavaError("save", spark._jvm.io.delta.exceptions.ConcurrentDeleteReadException("gone"))
    calls, pauses = [], []

    def always_conflicts():
        calls.append(1)
        raise conflict

    with pytest.raises(Py4JJavaError):
        retry_on_conflict(always_conflicts, "t", attempts=3, sleep=pauses.append, jitter=lambda: 0.5)
    assert len(calls) == 3 and pauses == [1.0, 2.0]

    def boom():
        calls.append(1)
        raise ValueError("not a conflict")

    with pytest.raises(ValueError):
        retry_on_conflict(boom, "t", sleep=pauses.append)
    assert len(calls) == 4  # no retry


def test_fx_one_date_write_survives_a_concurrent_commit(spark, tmp_path, capfd):
    from deltalake import DeltaTable
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    from deplat_job.pipelines import fx

    path, marker = str(tmp_path / "fx_rates"), str(tmp_path / "intruded")
    d1, d2 = dt.date(2024, 1, 2), dt.date(2024, 1, 3)
    base = spark.createDataFrame([("USD", d1, 1), ("USD", d2, 2)], "ccy string, as_of_date date, v long")
    fx.write_silver(base, path)

    def intrude(v):  # runs in the write's own Spark task: a commit lands mid-transaction, once
        import os

        if not os.path.exists(marker):
            open(marker, "w").close()
            import pyarrow as pa
            from deltalake import write_deltalake

            write_deltalake(path, pa.table({"ccy": ["GBP"], "as_of_date": pa.array([d2], pa.date32()),
                                            "v": pa.array([7], pa.int64())}), mode="overwrite")
        return v

    day = spark.createDataFrame([("USD", d1, 10)], "ccy string, as_of_date date, v long")
    day = day.withColumn("v", F.udf(intrude, LongType())("v"))
    fx.write_silver(day, path, partition_date=d1.isoformat())

    rows = sorted((r["ccy"], r["as_of_date"], r["v"]) for r in DeltaTable(path).to_pyarrow_table().to_pylist())
    assert rows == [("GBP", d2, 7), ("USD", d1, 10)]  # the other writer's commit kept, our date replaced
    assert "Delta write conflict (Concurrent" in capfd.readouterr().err
