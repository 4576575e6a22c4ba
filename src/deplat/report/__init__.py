"""`deplat report`: the last runbook or run as one static HTML file (timeline, steps, failures, row
counts and versions of every Delta table, DQ results), viewable offline.

`write_report(ctx, run_id=None, path=None)` is the service; `collect` (report.data) gathers,
`render` (report.html) draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deplat.core.context import Context


@dataclass
class ReportResult:
    path: Path
    kind: str
    id: str
    status: str
    steps: int
    tables: int
    failures: int
    bytes: int
    chosen: str = ""  # with no id given: why this runbook/run (and how to get the other)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def write_report(ctx: Context, run_id: str | None = None, path: Path | None = None) -> ReportResult:
    """Write the report for `run_id` (a runbook id, batch id or run id; default the latest) to `path`
    (default `.deplat/<env>/reports/<id>.html`). ConfigError when there is nothing to report."""
    from deplat.report.data import collect
    from deplat.report.html import render

    with ctx.reporter.status("Collecting run records and counting table rows..."):
        data = collect(ctx, run_id)
    page = render(data)
    target = Path(path) if path else ctx.state_dir / "reports" / f"{data.id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return ReportResult(target.resolve(), data.kind, data.id, data.status, len(data.steps), len(data.tables),
                        sum(not f.of_step for f in data.failures), len(page.encode()), data.chosen)
