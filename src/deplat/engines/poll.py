"""The wait loop: a small state machine over a run's state, with an injectable clock and sleep.

Polls fast right after a change (state changes cluster around start and end) and backs off while
the state holds; the terminal states are explicit and an unknown state is an error, never "done".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from deplat.engines.base import KNOWN_STATES, PollPolicy, RunState, UnknownRunStateError
from deplat_job.errors import JobFailedError

UpdateFn = Callable[[RunState, float, bool], None]


class WaitTimeoutError(JobFailedError):
    """The run did not finish within the wait's timeout (it may still be running)."""

    def __init__(self, state: RunState, elapsed: float):
        super().__init__(f"still {state.state} after {elapsed:.0f}s")
        self.state = state
        self.elapsed = elapsed


class Poller:
    """`wait()` polls `fetch` until a terminal state; `calls` counts the fetches (API calls)."""

    def __init__(
        self,
        fetch: Callable[[], RunState],
        *,
        policy: PollPolicy | None = None,
        timeout: float | None = None,
        on_update: UpdateFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._fetch = fetch
        self._policy = policy or PollPolicy()
        self._timeout = timeout
        self._on_update = on_update
        self._clock = clock
        self._sleep = sleep
        self.calls = 0
        self.intervals: list[float] = []

    def wait(self) -> RunState:
        start = self._clock()
        interval = self._policy.initial
        last: RunState | None = None
        while True:
            state = self._fetch()
            self.calls += 1
            if state.state not in KNOWN_STATES:
                raise UnknownRunStateError(
                    f"the engine reported an unknown run state {state.state!r}",
                    "check the run in the console; upgrade deplat if the service added a state",
                )
            elapsed = self._clock() - start
            changed = last is None or state.state != last.state
            if self._on_update:
                self._on_update(state, elapsed, changed)
            if state.terminal:
                return state
            if self._timeout is not None and elapsed >= self._timeout:
                raise WaitTimeoutError(state, elapsed)
            if changed:
                interval = self._policy.initial
            else:
                interval = min(interval * self._policy.factor, self._policy.maximum)
            if self._timeout is not None:
                interval = max(0.0, min(interval, self._timeout - elapsed))
            self.intervals.append(interval)
            self._sleep(interval)
            last = state
