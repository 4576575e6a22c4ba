"""Driver logs of a run: CloudWatch Logs when the run was submitted with a log group, else the EMR
S3 layout `<log_uri>applications/<app>/jobs/<run>/SPARK_DRIVER/{stdout,stderr}.gz`.

EMR uploads driver logs some time after the driver writes them, so reads are retried (tenacity)
until the object appears. The local engine writes the same layout, so both share this code.

This module sits below the engine layer: it imports nothing from `deplat.engines` (a run is
anything with the RunRef fields it reads), so engines import it at module level.
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urlparse

from deplat_job.errors import ConfigError, DeplatError, ExitCode

STREAMS = ("stdout", "stderr")
EXCERPT_MAX_LINES = 40
_TRACEBACK = "Traceback (most recent call last):"
# A JVM-side failure: `Exception in thread "main" org.apache...` or `org.apache...Exception: msg`.
_JVM_ERROR = re.compile(r"^(Exception in thread .*|(?:[a-z]\w*\.)+\w*(?:Exception|Error)\b.*)$")


class RunRef(Protocol):
    """The fields of `deplat.engines.base.RunRef` that locate a run's logs: read only here (that RunRef
    is a frozen dataclass, and nothing here sets them)."""

    @property
    def run_id(self) -> str: ...
    @property
    def application_id(self) -> str: ...
    @property
    def log_uri(self) -> str: ...
    @property
    def log_group(self) -> str | None: ...


class LogsNotFoundError(DeplatError):
    exit_code = ExitCode.USAGE


class LogsGoneError(LogsNotFoundError):
    """The place the logs were written no longer exists (e.g. moto restarted: its S3 is in memory)."""


class _NotYet(Exception):
    """The log object does not exist (yet)."""


def s3_location(run: RunRef, stream: str) -> tuple[str, str]:
    """(bucket, key) of a run's driver log in the EMR Serverless S3 layout."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}")
    parsed = urlparse(run.log_uri)
    prefix = parsed.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    key = f"{prefix}applications/{run.application_id}/jobs/{run.run_id}/SPARK_DRIVER/{stream}.gz"
    return parsed.netloc, key


def log_stream_name(run: RunRef, stream: str, prefix: str = "deplat") -> str:
    """The CloudWatch stream EMR Serverless writes a driver log to, under our stream-name prefix."""
    return f"{prefix}/applications/{run.application_id}/jobs/{run.run_id}/SPARK_DRIVER/{stream}"


class LogReader:
    """Reads (and tails) driver logs; AWS clients and the sleep are injected."""

    def __init__(
        self,
        s3: Any,
        cloudwatch: Callable[[], Any] | None = None,
        *,
        wait_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._s3 = s3
        self._cloudwatch = cloudwatch
        self.wait_seconds = wait_seconds
        self._sleep = sleep

    def read(self, run: RunRef, stream: str = "stdout", wait: bool = True) -> str:
        """The whole log; retries until it appears (up to `wait_seconds`), then LogsNotFoundError."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

        fetch = self._fetch_cloudwatch if run.log_group else self._fetch_s3
        if not wait or self.wait_seconds <= 0:
            try:
                return fetch(run, stream)
            except _NotYet:
                raise self._not_found(run, stream) from None
        retrying = Retrying(
            retry=retry_if_exception_type(_NotYet),
            stop=stop_after_delay(self.wait_seconds),
            wait=wait_exponential(multiplier=0.5, min=0.5, max=10),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(fetch, run, stream)
        except _NotYet:
            raise self._not_found(run, stream) from None

    def tail(self, run: RunRef, stream: str = "stdout") -> LogTail:
        """A tail that returns only what was added since the previous `read_new()`."""
        if run.log_group:
            return _CloudWatchTail(self._logs_client(), run.log_group, log_stream_name(run, stream))
        return _Tail(lambda: self._fetch_s3(run, stream))

    def _logs_client(self) -> Any:
        if self._cloudwatch is None:
            raise ConfigError("this log reader has no CloudWatch Logs client, and the run logs to a log group",
                              "build the LogReader with a CloudWatch Logs client factory")
        return self._cloudwatch()

    def _fetch_s3(self, run: RunRef, stream: str) -> str:
        bucket, key = s3_location(run, stream)
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            raise _NotYet() from None
        except self._s3.exceptions.NoSuchBucket:
            raise LogsGoneError(
                f"the log bucket s3://{bucket} of run {run.run_id} no longer exists (deleted, or a "
                "restarted local moto server, which keeps nothing), and its driver logs with it",
                "rerun the pipeline for new logs") from None
        return gzip.decompress(body).decode("utf-8", errors="replace")

    def _fetch_cloudwatch(self, run: RunRef, stream: str) -> str:
        tail = _CloudWatchTail(self._logs_client(), run.log_group or "", log_stream_name(run, stream))
        text = tail.read_new(missing_ok=False)
        return text

    def _not_found(self, run: RunRef, stream: str) -> LogsNotFoundError:
        if run.log_group:
            where = f"CloudWatch {run.log_group}:{log_stream_name(run, stream)}"
        else:
            bucket, key = s3_location(run, stream)
            where = f"s3://{bucket}/{key}"
        return LogsNotFoundError(
            f"no driver {stream} for run {run.run_id} at {where}",
            "check the run id (`deplat status`); a run that never started its driver has no log",
        )


class _Tail:
    """Tail over a source that returns the whole text so far (an S3 object is rewritten whole)."""

    def __init__(self, fetch: Callable[[], str]):
        self._fetch = fetch
        self._seen = 0

    def read_new(self) -> str:
        try:
            text = self._fetch()
        except _NotYet:
            return ""
        new = text[self._seen:]
        self._seen = len(text)
        return new


class _CloudWatchTail:
    def __init__(self, client: Any, group: str, stream: str):
        self._client = client
        self._group = group
        self._stream = stream
        self._token: str | None = None

    def read_new(self, missing_ok: bool = True) -> str:
        lines: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self._group, "logStreamName": self._stream,
                                      "startFromHead": True}
            if self._token:
                kwargs["nextToken"] = self._token
            try:
                page = self._client.get_log_events(**kwargs)
            except self._client.exceptions.ResourceNotFoundException:
                if missing_ok:
                    return ""
                raise _NotYet() from None
            lines.extend(e["message"].rstrip("\n") + "\n" for e in page.get("events", []))
            token = page.get("nextForwardToken")
            if not token or token == self._token:
                break
            self._token = token
        return "".join(lines)


def follow(
    tail: LogTail,
    finished: Callable[[], bool],
    *,
    sleep: Callable[[float], None],
    interval: float,
    drain: Callable[[], str] | None = None,
) -> Iterator[str]:
    """Yield what a log tail adds until `finished()` says the run ended, then what is left.

    `finished` is checked before each read, so the last read happens after the run ended and
    nothing the driver wrote is missed; `drain` (EMR: the last upload after the end) runs once.
    """
    while True:
        done = finished()
        chunk = tail.read_new()
        if chunk:
            yield chunk
        if done:
            rest = drain() if drain else ""
            if rest:
                yield rest
            return
        sleep(interval)


class LogTail(Protocol):
    def read_new(self) -> str: ...


def python_traceback(text: str, max_lines: int = EXCERPT_MAX_LINES) -> str | None:
    """The last Python traceback in a log, through its exception line; None if there is none."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)]
    if not starts:
        return None
    block = [lines[starts[-1]]]
    for line in lines[starts[-1] + 1:]:
        block.append(line)
        # The exception line is the first unindented line after the frames.
        if line and not line[0].isspace():
            break
    return "\n".join(_clip(block, max_lines))


def error_excerpt(stderr: str, max_lines: int = EXCERPT_MAX_LINES) -> str:
    """The driver's error: the last Python traceback, else the last JVM exception with its frames."""
    found = python_traceback(stderr, max_lines)
    if found:
        return found
    lines = stderr.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if _JVM_ERROR.match(lines[i].strip()):
            block = [lines[i]]
            block.extend(line for line in lines[i + 1:i + 12] if line.lstrip().startswith("at "))
            return "\n".join(_clip(block, max_lines))
    return "\n".join(lines[-10:])


def driver_error(stdout: str, stderr: str) -> tuple[str, str]:
    """(excerpt, stream it came from). Spark's PythonRunner merges the Python driver's stderr into
    the driver stdout, so on EMR a Python traceback is usually in stdout; JVM errors are in stderr."""
    if python_traceback(stderr) is None and python_traceback(stdout) is not None:
        return python_traceback(stdout) or "", "stdout"
    return error_excerpt(stderr), "stderr"


def _clip(block: list[str], max_lines: int) -> list[str]:
    if len(block) <= max_lines:
        return block
    head = max_lines // 3
    return block[:head] + [f"  ... ({len(block) - max_lines} lines) ..."] + block[-(max_lines - head - 1):]
