"""The runbook's live view on stderr, and the Reporter its services talk to while it runs.

On a terminal: a Rich Live table (step, state, elapsed, rows, DQ, what is happening now) redrawn
a few times a second, with service messages printed above it. Not on a terminal (CI, `| tee`,
a log file): one plain line per state change and per message, no cursor movement, no colour.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

from deplat.core.console import literal

STYLE = {"running": "bold cyan", "ok": "green", "ok (earlier)": "green", "failed": "bold red",
         "not built": "yellow", "skipped": "dim"}


class _Status:
    def __init__(self, view: RunbookView):
        self.view = view

    def update(self, message: str) -> None:
        self.view.detail = message


class RunbookView:
    """Reporter protocol (info/warn/status) + `on_event` for the runbook service's step events."""

    def __init__(self, parent: Any, console: Any = None):
        from rich.console import Console

        self.parent = parent
        self.console = console or getattr(parent, "console", None) or Console(stderr=True, highlight=False)
        self.live_mode = bool(self.console.is_terminal)
        self.rows: dict[str, dict[str, Any]] = {}
        self.position = ""
        self.detail = ""
        self._live: Any = None

    # --- context --------------------------------------------------------------------------

    def __enter__(self) -> RunbookView:
        if self.live_mode:
            from rich.live import Live

            self._live = Live(get_renderable=self._table, console=self.console, refresh_per_second=4,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- runbook events -------------------------------------------------------------------

    def on_event(self, event: str, record: Any, i: int, n: int) -> None:
        row = self.rows.setdefault(record.name, {"t0": None})
        row["record"] = record
        self.position = f"{i}/{n}"
        if event == "start":
            row["t0"] = time.monotonic()
            self.detail = ""
        if self.live_mode:
            return  # the Live table re-reads the records on its next refresh
        if event == "start":
            self._line(f"[{i}/{n}] {record.name}: running ({record.title})")
        else:
            self._line(f"[{i}/{n}] {record.name}: {record.status}{_figures(record)}")

    # --- Reporter -------------------------------------------------------------------------

    def info(self, message: str) -> None:
        if self.live_mode:
            self.console.print(literal(message, "dim"), highlight=False)
        else:
            self._line(message)

    def warn(self, message: str) -> None:
        from rich.text import Text

        if self.live_mode:
            self.console.print(Text.assemble(("warning:", "yellow"), " ", literal(message)), highlight=False)
        else:
            self._line(f"warning: {message}")

    @contextmanager
    def status(self, message: str):
        self.detail = message
        if not self.live_mode:
            self._line(message)
        try:
            yield _Status(self)
        finally:
            self.detail = ""

    # --- rendering ------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        # markup=False: service messages may contain [brackets]; no styles in a log file.
        self.console.print(literal(text), highlight=False, soft_wrap=True)

    def _table(self):
        from rich.table import Table

        t = Table(title=f"runbook · step {self.position}", title_justify="left", expand=False)
        for col in ("step", "state", "elapsed", "rows", "DQ", "now"):
            t.add_column(col, no_wrap=col != "now", overflow="ellipsis")
        for row in self.rows.values():
            rec = row["record"]
            if rec.status == "running" and row["t0"] is not None:
                elapsed, now = time.monotonic() - row["t0"], self.detail
            else:
                elapsed, now = rec.duration_s, (rec.error or rec.note or "")
            t.add_row(literal(rec.name), literal(rec.status, STYLE.get(rec.status, "")),
                      "" if elapsed is None else f"{elapsed:.0f}s",
                      "" if rec.rows_written is None else f"{rec.rows_written:,}", literal(rec.dq),
                      literal(now[:80]))
        return t


def _figures(record: Any) -> str:
    parts = []
    if record.duration_s is not None:
        parts.append(f"{record.duration_s:.1f}s")
    if record.rows_written is not None:
        parts.append(f"{record.rows_written:,} rows written")
    if record.dq:
        parts.append(f"DQ {record.dq}")
    if record.error:
        parts.append(record.error)
    elif record.note:
        parts.append(record.note)
    return f" ({', '.join(parts)})" if parts else ""

