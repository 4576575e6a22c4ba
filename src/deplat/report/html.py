"""ReportData -> one self-contained HTML page: inline CSS, an inline SVG Gantt, no JavaScript and
nothing fetched from the network (it opens from a file, offline, and screenshots deterministically).

Every text from records or tables goes through html.escape.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from deplat.core.cost import cost_cell
from deplat.report.data import ReportData, TimelineEntry

COLOURS = {"ok": "#2e7d32", "pass": "#2e7d32", "fail": "#c62828", "warn": "#ef6c00", "warning": "#ef6c00",
           "ok (earlier)": "#81c784", "SUCCESS": "#2e7d32", "failed": "#c62828",
           "FAILED": "#c62828", "CANCELLED": "#ef6c00", "not built": "#f9a825", "skipped": "#bdbdbd",
           "running": "#1565c0", "interrupted": "#c62828", "RUNNING": "#1565c0", "PENDING": "#90a4ae",
           "SUBMITTED": "#90a4ae"}
GREY = "#757575"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#212121}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0}
.meta{color:#616161;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin-top:4px}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px;white-space:nowrap}
.bar{display:inline-block;height:10px;background:#42a5f5;vertical-align:middle;margin-right:6px}
pre{background:#fafafa;border:1px solid #e0e0e0;padding:8px;font-size:12px;white-space:pre-wrap;max-height:320px;
overflow:auto}
.muted{color:#9e9e9e}.scroll{overflow-x:auto;max-width:100%}
"""


class Html(str):
    """Already-rendered markup (built here from escaped parts); every other cell value is escaped."""


def badge(status: str | None) -> str:
    if not status:
        return ""
    return Html(f'<span class="badge" style="background:{COLOURS.get(status, GREY)}">{escape(status)}</span>')


def _nice_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= 10:
            return step
    return 7200


def _fmt_s(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m" if rest == 0 else f"{minutes}m{rest:02d}s"


def gantt_svg(entries: list[TimelineEntry], now: datetime, width: int = 960, row: int = 22,
              left: int = 230) -> str:
    """A Gantt chart as inline SVG: one bar per entry (job runs indented under their step), a time
    axis in seconds from the first start, and a <title> tooltip per bar."""
    if not entries:
        return '<p class="muted">No timed steps recorded.</p>'
    t0 = min(e.start for e in entries)
    t1 = max((e.end or now) for e in entries)
    span = max((t1 - t0).total_seconds(), 1.0)
    plot = width - left - 60  # room for the duration label after the last bar
    top = 26

    def x(t: datetime) -> float:
        return left + (t - t0).total_seconds() / span * plot

    height = top + row * len(entries) + 8
    out = [f'<svg id="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img" '
           f'aria-label="timeline of {len(entries)} steps">']
    step = _nice_step(span)
    tick = 0.0
    while tick <= span + 1e-6:
        tx = left + tick / span * plot
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - 4}" stroke="#eeeeee"/>'
                   f'<text x="{tx:.1f}" y="{top - 10}" text-anchor="middle" fill="#757575">{_fmt_s(tick)}</text>')
        tick += step
    for i, e in enumerate(entries):
        y = top + i * row
        end = e.end or now
        x0, x1 = x(e.start), x(end)
        colour = COLOURS.get(e.state, GREY)
        indent = 4 + 16 * e.level
        label = escape(e.label)
        weight = ' font-weight="bold"' if e.level == 0 else ' fill="#424242"'
        secs = (end - e.start).total_seconds()
        faded = "" if e.end else ' fill-opacity="0.5"'  # still running when the report was made
        out.append(
            f'<g class="bar" data-state="{escape(e.state)}"><text x="{indent}" y="{y + 14}"{weight}>{label}</text>'
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 2):.1f}" height="{row - 8}" rx="2" '
            f'fill="{colour}"{faded}>'
            f'<title>{escape(e.tooltip or e.label)}</title></rect>'
            f'<text x="{x1 + 4:.1f}" y="{y + 14}" fill="#616161" font-size="11">'
            f'{secs:.1f}s</text></g>')
    out.append("</svg>")
    return "".join(out)


def _table(table_id: str, columns: list[str], rows: list[list[Any]],
           numeric: frozenset[str] | set[str] = frozenset()) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c, v in zip(columns, r, strict=False):
            cls = ' class="num"' if c in numeric else ""
            text = v if isinstance(v, Html) else "" if v is None else escape(str(v))
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render(data: ReportData) -> str:
    """The whole report page as a string."""
    now = datetime.fromisoformat(data.generated_at)
    dur = f" in {data.duration_s:.0f}s" if data.duration_s is not None else ""
    title = f"deplat {data.kind} {data.id}"
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{escape(title)} {badge(data.status)}</h1>",
             f'<p class="meta">environment <b>{escape(data.env)}</b> · started {escape(data.started_at or "?")}'
             f"{escape(dur)} · lake {escape(data.lake)} · generated {escape(data.generated_at)}</p>"]

    parts.append('<section id="timeline"><h2>Timeline</h2>' + gantt_svg(data.timeline, now) + "</section>")

    step_rows = [[s.name, badge(s.status), s.attempts, None if s.duration_s is None else f"{s.duration_s:.1f}s",
                  None if s.rows_written is None else f"{s.rows_written:,}", s.dq, cost_cell(s.cost), s.note]
                 for s in data.steps]
    total = data.cost
    billed = (f'<p class="meta" id="cost">billed: {escape(cost_cell(total))} (EMR Serverless on-demand prices, '
              f"billedResourceUtilization)</p>") if total else ""
    parts.append('<section id="steps"><h2>Steps</h2>' + billed
                 + _table("steps-table", ["step", "status", "attempts", "duration", "rows written", "DQ", "cost",
                                          "note"],
                          step_rows, {"attempts", "duration", "rows written"}) + "</section>")

    parts.append('<section id="failures"><h2>Failures</h2>')
    if data.failures:
        for f in data.failures:
            parts.append(f'<div class="failure"><p><b>{escape(f.what)}</b>: {escape(f.error)}</p>'
                         + (f"<pre>{escape(f.excerpt[-4000:])}</pre>" if f.excerpt else "") + "</div>")
    else:
        parts.append('<p class="muted">None.</p>')
    parts.append("</section>")

    parts.append('<section id="layers"><h2>Row counts per layer</h2>')
    totals: dict[str, int] = {}
    for t in data.tables:
        if t.rows is not None:
            totals[t.layer] = totals.get(t.layer, 0) + t.rows
    biggest = max([*totals.values(), *(t.rows or 0 for t in data.tables), 1])
    layer_rows = [[layer, sum(1 for t in data.tables if t.layer == layer), f"{n:,}"] for layer, n in totals.items()]
    parts.append(_table("layers-table", ["layer", "tables", "rows"], layer_rows, {"tables", "rows"}))
    parts.append("</section>")

    parts.append('<section id="tables-section"><h2>Tables</h2>')
    if data.tables:
        rows = []
        for t in data.tables:
            bar = Html(f'<span class="bar" style="width:{max(int(100 * (t.rows or 0) / biggest), 1)}px"></span>'
                       f"{t.rows:,}") if t.rows is not None else None
            rows.append([t.layer, t.table, bar, t.version, t.files, t.last_operation, t.last_commit, t.error])
        parts.append(_table("tables", ["layer", "table", "rows", "version", "files", "last operation",
                                       "last commit", "error"], rows, {"rows", "version", "files"}))
    else:
        parts.append(f'<p class="muted">No Delta tables under {escape(data.lake)}.</p>')
    parts.append("</section>")

    parts.append(f'<section id="dq-section"><h2>Data quality</h2><p class="meta">{escape(data.dq_note)}</p>')
    if data.dq_columns:
        rows = [[badge(v) if c in ("status", "result", "outcome") and isinstance(v, str) else v
                 for c, v in zip(data.dq_columns, r, strict=True)] for r in data.dq_rows]
        parts.append('<div class="scroll">' + _table("dq", data.dq_columns, rows) + "</div>")
    parts.append("</section></body></html>")
    return "\n".join(parts)
