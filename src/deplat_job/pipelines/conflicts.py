"""Delta write conflicts between concurrent jobs (e.g. a backfill's dates writing one table at once).

Delta commits optimistically: a writer whose files were removed or whose table was created by a
concurrent commit fails with a DeltaConcurrentModificationException (ConcurrentAppendException,
ConcurrentDeleteReadException, ProtocolChangedException, ...), and Delta's documentation says to retry
the operation. Our writes are idempotent (an overwrite, or a replaceWhere of one date), so running the
whole write again is correct. Python 3.9-compatible: runs on the EMR runtime.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
CONFLICT_BASE = "org.apache.spark.sql.delta.DeltaConcurrentModificationException"
ATTEMPTS = 6
# delta-spark's Python package (delta/exceptions.py), once imported, turns the JVM conflicts into these.
PYTHON_CONFLICTS = frozenset((
    "DeltaConcurrentModificationException", "ConcurrentWriteException", "MetadataChangedException",
    "ProtocolChangedException", "ConcurrentAppendException", "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException", "ConcurrentTransactionException"))


def delta_conflict(exc: BaseException) -> str | None:
    """The Delta conflict's class name (e.g. 'ConcurrentAppendException') if `exc` is, or was caused
    by, a Delta concurrent-modification exception; else None. Reads the JVM exception's class
    hierarchy (py4j's `java_exception`, PySpark's captured `_origin`) or delta-spark's Python class,
    not the message."""
    if type(exc).__module__ == "delta.exceptions" and type(exc).__name__ in PYTHON_CONFLICTS:
        return type(exc).__name__  # delta-spark's converter ran: flat CapturedException subclasses, no origin
    java: Any = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    seen = 0
    while java is not None and seen < 10:
        klass = java.getClass()
        name = klass.getSimpleName()
        while klass is not None:
            if klass.getName() == CONFLICT_BASE:
                return str(name)
            klass = klass.getSuperclass()
        java, seen = java.getCause(), seen + 1
    return None


def retry_on_conflict(write: Callable[[], T], what: str, attempts: int = ATTEMPTS, base_delay: float = 1.0,
                      sleep: Callable[[float], None] = time.sleep,
                      jitter: Callable[[], float] = random.random) -> T:
    """Run `write()`; on a Delta conflict run it again, up to `attempts` times in all, after a
    jittered exponential pause (base_delay * 2**n * [0.5, 1.5) seconds) so writers spread out. Each
    retry is said on stderr (the driver log). Other errors, and the last conflict, propagate."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is a Delta conflict
            conflict = delta_conflict(exc)
            if conflict is None or attempt == attempts:
                raise
            delay = base_delay * 2 ** (attempt - 1) * (0.5 + jitter())
            print(f"{what}: Delta write conflict ({conflict}) with a concurrent writer, attempt "
                  f"{attempt}/{attempts}; retrying in {delay:.1f}s", file=sys.stderr, flush=True)
            sleep(delay)
    raise AssertionError("unreachable")
