"""The engine contract: what `deplat run` needs from EMR Serverless and from local Spark alike.

`submit(spec, idempotency_key) -> RunRef`, `get(run) -> RunState`, `logs(run, stream, follow)`,
`cancel(run)`. A RunRef is plain data (it is stored in the run history), so `deplat logs` and
`deplat status` can rebuild it in a later invocation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from deplat.core.logs import STREAMS as STREAMS  # re-exported for the engines and the run service
from deplat.core.logs import LogTail
from deplat_job.errors import DeplatError, ExitCode

# EMR Serverless job run states. QUEUED appears when the application's job concurrency is capped.
ACTIVE_STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "QUEUED", "RUNNING", "CANCELLING")
TERMINAL_STATES = ("SUCCESS", "FAILED", "CANCELLED")
KNOWN_STATES = frozenset(ACTIVE_STATES + TERMINAL_STATES)
# A run in one of these can still be attached to instead of starting a duplicate.
LIVE_STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "QUEUED", "RUNNING")


class UnknownRunStateError(DeplatError):
    """The engine reported a state this version does not know: stop rather than guess."""

    exit_code = ExitCode.UNEXPECTED


class EngineError(DeplatError):
    """An engine API call failed for a reason other than the job itself."""

    exit_code = ExitCode.UNEXPECTED


@dataclass(frozen=True)
class JobSpec:
    """One step to run: the entry script, its arguments and the code it needs (all URIs)."""

    pipeline: str
    step: str
    entry_point: str
    args: tuple[str, ...] = ()
    py_files: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()
    timeout_minutes: int | None = None
    streaming: bool = False  # a long-running stream (registry Step.streaming)
    secret: str = ""  # the source secret the job reads (registry Step.secret): it runs as that source's role

    @property
    def name(self) -> str:
        return f"deplat-{self.pipeline}-{self.step}"


@dataclass(frozen=True)
class RunRef:
    """Where a run lives: enough to poll it, cancel it and find its driver logs later."""

    run_id: str
    application_id: str
    engine: str
    key: str = ""
    log_uri: str = ""  # s3://<artifacts>/logs/ (the EMR S3 log layout)
    log_group: str | None = None  # CloudWatch Logs group, when the run was submitted with one
    attached: bool = False  # True: an identical live run existed and was reused
    pipeline: str = ""
    step: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRef:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class RunState:
    state: str
    details: str = ""
    dashboard_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCESS"


@dataclass(frozen=True)
class PollPolicy:
    """Adaptive polling: fast right after a state change, slower while nothing changes."""

    initial: float = 2.0
    factor: float = 1.6
    maximum: float = 30.0


class JobEngine(Protocol):
    name: str
    application_id: str
    poll_policy: PollPolicy

    def submit(self, spec: JobSpec, idempotency_key: str) -> RunRef: ...
    def get(self, run: RunRef) -> RunState: ...
    def cancel(self, run: RunRef) -> None: ...
    def read_log(self, run: RunRef, stream: str = "stdout", wait: bool = True) -> str: ...
    def tail(self, run: RunRef, stream: str = "stdout") -> LogTail: ...
    def logs(self, run: RunRef, stream: str = "stdout", follow: bool = False) -> Iterator[str]: ...
    def ref(self, run_id: str) -> RunRef: ...
    def application_state(self) -> dict[str, Any]: ...
