"""`deplat run --wait` progress: step i/n, state and elapsed, as plain lines on state changes (what a
log file sees) and as a live line with a ticking elapsed time on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from deplat.core.console import RichReporter
from tests.unit.deplat.test_runs import ScriptedEngine, service


def test_wait_reports_step_position_state_and_elapsed(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["PENDING", "RUNNING", "SUCCESS"]})
    svc = service(tmp_path, monkeypatch, engine)
    svc.run("fx")
    msgs = svc.ctx.reporter.messages
    assert "[1/2] fx/fx_to_bronze: RUNNING (0s)" in msgs
    assert "[1/2] fx/fx_to_bronze: SUCCESS after 0s" in msgs
    assert "[2/2] fx/fx_bronze_to_silver: SUCCESS after 0s" in msgs


def _reporter(terminal: bool) -> tuple[RichReporter, io.StringIO]:
    buf = io.StringIO()
    rep = RichReporter()
    rep.console = Console(file=buf, force_terminal=terminal, width=100, highlight=False)
    return rep, buf


def test_rich_status_off_a_terminal_is_one_plain_line(tmp_path, monkeypatch):
    rep, buf = _reporter(terminal=False)
    with rep.status("[1/2] fx/fx_to_bronze: waiting") as live:
        live.update("[1/2] fx/fx_to_bronze [bold]RUNNING[/]")
    assert buf.getvalue() == "[1/2] fx/fx_to_bronze: waiting\n"


def test_rich_status_on_a_terminal_shows_a_ticking_elapsed_time(tmp_path, monkeypatch):
    rep, buf = _reporter(terminal=True)
    with rep.status("[1/2] fx/fx_to_bronze: waiting") as live:
        live.update("[1/2] fx/fx_to_bronze RUNNING")
    out = buf.getvalue()
    assert "\x1b[" in out and "0:00:00" in out and "RUNNING" in out
