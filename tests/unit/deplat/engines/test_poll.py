"""The wait loop over scripted state sequences, with a fake clock: no real sleeps."""

import pytest

from deplat.engines.base import PollPolicy, RunState, UnknownRunStateError
from deplat.engines.poll import Poller, WaitTimeoutError


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*states):
    seq = iter(states)
    return lambda: RunState(next(seq))


POLICY = PollPolicy(initial=2.0, factor=2.0, maximum=10.0)


def test_happy_path_stops_at_success_and_resets_backoff_on_change():
    clock = FakeClock()
    updates = []
    poller = Poller(scripted("SUBMITTED", "PENDING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"),
                    policy=POLICY, clock=clock, sleep=clock.sleep,
                    on_update=lambda s, elapsed, changed: updates.append((s.state, changed)))
    final = poller.wait()
    assert final.state == "SUCCESS" and final.succeeded
    # 2 s after each change, then doubling while RUNNING holds, capped at 10 s.
    assert clock.sleeps == [2.0, 2.0, 2.0, 4.0, 8.0, 10.0]
    assert poller.calls == 7
    assert [u for u in updates if u[1]] == [("SUBMITTED", True), ("PENDING", True), ("RUNNING", True),
                                            ("SUCCESS", True)]


@pytest.mark.parametrize("terminal", ["FAILED", "CANCELLED"])
def test_failed_and_cancelled_are_terminal(terminal):
    clock = FakeClock()
    final = Poller(scripted("SUBMITTED", "RUNNING", terminal), policy=POLICY, clock=clock,
                   sleep=clock.sleep).wait()
    assert final.state == terminal and final.terminal and not final.succeeded


def test_cancelling_is_not_terminal():
    clock = FakeClock()
    final = Poller(scripted("RUNNING", "CANCELLING", "CANCELLING", "CANCELLED"), policy=POLICY, clock=clock,
                   sleep=clock.sleep).wait()
    assert final.state == "CANCELLED"
    assert len(clock.sleeps) == 3


def test_unknown_state_is_an_error_not_done():
    clock = FakeClock()
    with pytest.raises(UnknownRunStateError, match="EXPLODED"):
        Poller(scripted("PENDING", "EXPLODED", "SUCCESS"), policy=POLICY, clock=clock,
               sleep=clock.sleep).wait()


def test_timeout_raises_with_last_state_and_never_oversleeps():
    clock = FakeClock()
    poller = Poller(lambda: RunState("RUNNING"), policy=POLICY, timeout=15, clock=clock, sleep=clock.sleep)
    with pytest.raises(WaitTimeoutError) as info:
        poller.wait()
    assert info.value.state.state == "RUNNING"
    assert info.value.exit_code == 4
    assert clock.now == 15  # the last sleep is trimmed to the deadline
