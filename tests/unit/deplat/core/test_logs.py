"""Driver-log locations, retry-until-present reads, tails and the error excerpt."""

import gzip

import pytest

from deplat.core.logs import LogReader, LogsNotFoundError, error_excerpt, s3_location
from deplat.engines.base import RunRef

REF = RunRef("jr1", "app1", "emr-serverless", log_uri="s3://art/logs/")

PY_STDERR = """\
24/11/26 04:00:00 WARN NativeCodeLoader: Unable to load native-hadoop library
Traceback (most recent call last):
  File "/tmp/run/jobs/boom.py", line 12, in <module>
    main()
  File "/tmp/run/jobs/boom.py", line 9, in main
    transform(spark)
  File "/tmp/run/jobs/boom.py", line 5, in transform
    raise RuntimeError("boom: bad input")
RuntimeError: boom: bad input
24/11/26 04:00:01 INFO ShutdownHookManager: Shutdown hook called
"""

JVM_STDERR = """\
24/11/26 04:00:00 INFO SparkContext: Running Spark version 3.5.3
Exception in thread "main" org.apache.spark.SparkException: Job aborted due to stage failure
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2856)
\tat org.apache.spark.scheduler.DAGScheduler.abortStage(DAGScheduler.scala:2792)
24/11/26 04:00:01 INFO ShutdownHookManager: Shutdown hook called
"""


def test_s3_layout_matches_emr_serverless():
    assert s3_location(REF, "stderr") == ("art", "logs/applications/app1/jobs/jr1/SPARK_DRIVER/stderr.gz")
    with pytest.raises(ValueError):
        s3_location(REF, "stdin")


def test_excerpt_is_the_python_traceback_through_the_exception_line():
    out = error_excerpt(PY_STDERR)
    assert out.startswith("Traceback (most recent call last):")
    assert out.endswith("RuntimeError: boom: bad input")
    assert "ShutdownHookManager" not in out and "NativeCodeLoader" not in out


def test_excerpt_falls_back_to_the_jvm_exception_and_its_frames():
    out = error_excerpt(JVM_STDERR).splitlines()
    assert out[0].startswith('Exception in thread "main" org.apache.spark.SparkException')
    assert len(out) == 3 and all("DAGScheduler" in line for line in out[1:])


def test_excerpt_is_clipped():
    frames = "".join(f'  File "x.py", line {i}, in f\n    f()\n' for i in range(200))
    out = error_excerpt(f"Traceback (most recent call last):\n{frames}ValueError: deep\n", max_lines=20)
    lines = out.splitlines()
    assert len(lines) == 20 and lines[-1] == "ValueError: deep" and "lines) ..." in out


class FakeS3:
    class exceptions:
        class NoSuchKey(Exception):
            pass

    def __init__(self, appear_after=0, text="hello\n"):
        self.gets = 0
        self.appear_after = appear_after
        self.text = text

    def get_object(self, Bucket, Key):
        self.gets += 1
        if self.gets <= self.appear_after:
            raise self.exceptions.NoSuchKey()

        class Body:
            data = gzip.compress(self.text.encode())

            def read(self):
                return self.data

        return {"Body": Body()}


def test_read_retries_until_the_object_appears():
    sleeps = []
    s3 = FakeS3(appear_after=3)
    assert LogReader(s3, sleep=sleeps.append).read(REF, "stdout") == "hello\n"
    assert s3.gets == 4 and len(sleeps) == 3


def test_read_gives_up_with_the_location_in_the_error():
    s3 = FakeS3(appear_after=10**9)
    with pytest.raises(LogsNotFoundError, match="s3://art/logs/applications/app1/jobs/jr1"):
        LogReader(s3, wait_seconds=0).read(REF, "stderr")


def test_tail_returns_only_new_text():
    s3 = FakeS3(text="a\n")
    tail = LogReader(s3).tail(REF)
    assert tail.read_new() == "a\n"
    assert tail.read_new() == ""
    s3.text = "a\nb\n"
    assert tail.read_new() == "b\n"


def test_driver_error_finds_a_python_traceback_merged_into_stdout():
    """On EMR, Spark's PythonRunner merges the Python driver's stderr into stdout."""
    from deplat.core.logs import driver_error

    excerpt, stream = driver_error(stdout="hi\n" + PY_STDERR, stderr=JVM_STDERR)
    assert stream == "stdout" and excerpt.endswith("RuntimeError: boom: bad input")
    excerpt, stream = driver_error(stdout="hi\n", stderr=JVM_STDERR)
    assert stream == "stderr" and "SparkException" in excerpt
    excerpt, stream = driver_error(stdout="hi\n" + PY_STDERR, stderr=PY_STDERR)
    assert stream == "stderr"
