"""What a run report shows, gathered from the run records and the lake (no rendering here).

Sources: `.deplat/<env>/runbooks.jsonl` and `runbook.json` (runbooks, see deplat.runbook),
`.deplat/<env>/runs.jsonl` (job runs, see deplat.runs), and the Delta tables under the lake root
(row counts are counted from the tables, versions read from their logs, via delta-rs).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError

if TYPE_CHECKING:
    from deplat.core.context import Context

DQ_TABLE = ("gold", "quality_results")
LAYER_ORDER = ("_landing", "bronze", "silver", "gold", "_errors")
DQ_ROWS = 200  # the newest rows shown
DEFAULT_RULE = ("Default: the last runbook, unless a job run (e.g. `deplat run`, `deplat dq check`) was "
                "submitted after it ended; then that run's batch.")


@dataclass
class TimelineEntry:
    """One bar of the Gantt: a runbook step (level 0) or one job run inside it (level 1)."""

    label: str
    start: datetime
    end: datetime | None
    state: str
    level: int = 0
    tooltip: str = ""


@dataclass
class StepRow:
    name: str
    status: str
    duration_s: float | None
    rows_written: int | None
    dq: str | None
    note: str
    attempts: int = 1
    cost: dict[str, Any] | None = None  # its runs' billed utilization and price summed (deplat.core.cost)


@dataclass
class Failure:
    what: str
    error: str
    excerpt: str | None
    of_step: bool = False  # a job run's failure under a failed step attempt: detail, not one more failure


@dataclass
class TableInfo:
    layer: str
    table: str
    rows: int | None
    version: int | None
    files: int | None
    last_operation: str | None
    last_commit: str | None
    error: str | None = None


@dataclass
class ReportData:
    kind: str  # runbook | run
    id: str
    env: str
    status: str
    started_at: str | None
    duration_s: float | None
    generated_at: str
    lake: str
    timeline: list[TimelineEntry] = field(default_factory=list)
    steps: list[StepRow] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    tables: list[TableInfo] = field(default_factory=list)
    dq_columns: list[str] = field(default_factory=list)
    dq_rows: list[list[Any]] = field(default_factory=list)
    dq_note: str = ""
    chosen: str = ""  # why this runbook/run was reported when no id was given

    @property
    def cost(self) -> dict[str, Any] | None:
        """The steps' costs summed (None when no step has one)."""
        return sum_costs([s.cost for s in self.steps])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cost": self.cost}


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a torn last line
    return out


def runbooks(state_dir: Path) -> list[dict[str, Any]]:
    """Every recorded runbook (latest record per id), the unfinished current one included."""
    by_id: dict[str, dict[str, Any]] = {}
    for rec in _read_jsonl(state_dir / "runbooks.jsonl"):
        by_id[rec["runbook_id"]] = rec
    state = state_dir / "runbook.json"
    if state.is_file():
        try:
            rec = json.loads(state.read_text())
            by_id[rec["runbook_id"]] = rec
        except (ValueError, KeyError):
            pass
    return sorted(by_id.values(), key=lambda r: r.get("started_at", ""))


def job_runs(state_dir: Path) -> list[dict[str, Any]]:
    """The latest record of each job run (runs.jsonl is append-only; the last record wins)."""
    from deplat.runs import HISTORY_FILE, RunHistory

    return RunHistory(state_dir / HISTORY_FILE).records()


def collect(ctx: Context, run_id: str | None = None) -> ReportData:
    """The report's data for a runbook id, a batch id or a job run id.

    Default (DEFAULT_RULE): the last runbook when it started after the newest job run or contains
    it (its steps submitted it, or it ran while the runbook did); otherwise the newest run's batch,
    and `chosen` names the runbook it passed over. ConfigError (exit 2) when nothing has run in
    this environment or the id is unknown.
    """
    state_dir = ctx.state_dir
    books, runs = runbooks(state_dir), job_runs(state_dir)
    by_run = {r["run_id"]: r for r in runs}
    book = None
    batch = None
    chosen = ""
    if run_id:
        book = next((b for b in books if b["runbook_id"] == run_id), None)
        if book is None:
            if run_id in by_run:
                batch = by_run[run_id].get("batch_id") or run_id
            elif any(r.get("batch_id") == run_id for r in runs):
                batch = run_id
            else:
                raise ConfigError(f"no runbook, batch or run '{run_id}' in environment '{ctx.env.name}'",
                                  "see `deplat status` for run ids, or omit --run for the latest")
    else:
        last_book = books[-1] if books else None
        last_run = max(runs, key=lambda r: r.get("submitted_at", ""), default=None)
        if last_book is None and last_run is None:
            raise ConfigError(f"nothing has run in environment '{ctx.env.name}' yet",
                              "run `deplat runbook` or `deplat run <pipeline>` first")
        if last_book and (last_run is None or _covers(last_book, last_run)):
            book = last_book
            chosen = "the last runbook (no job run after it)"
        else:
            assert last_run is not None  # nothing at all ran was refused above
            batch = str(last_run.get("batch_id") or last_run["run_id"])
            chosen = "the newest run" + (
                f", submitted after the last runbook {last_book['runbook_id']} ended: "
                f"`deplat report --run {last_book['runbook_id']}` reports that runbook" if last_book else "")

    lake = ctx.lake_uri
    if book is not None:
        data = _from_runbook(book, by_run)
    else:
        data = _from_batch(ctx.env.name, str(batch), [r for r in runs if (r.get("batch_id") or r["run_id"]) == batch])
    data.lake = lake
    data.chosen = chosen
    data.tables = lake_tables(lake)
    data.dq_columns, data.dq_rows, data.dq_note = dq_results(lake)
    return data


def _covers(book: dict[str, Any], run: dict[str, Any]) -> bool:
    """The runbook is newer than the run, or the run was one of its steps' (so it is the latest)."""
    started, submitted = _ts(book.get("started_at")), _ts(run.get("submitted_at"))
    if started is None or submitted is None or started >= submitted:
        return True
    if any(run["run_id"] in (s.get("run_ids") or []) for s in book.get("steps", [])):
        return True
    ended = _ts(book.get("ended_at"))
    return book.get("status") == "running" or (ended is not None and submitted <= ended)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sum_costs(costs: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Billed vCPU/memory/storage hours and price of several runs added up; price_usd None when a
    run with utilization has no price; None when no run has a cost."""
    present = [c for c in costs if c]
    if not present:
        return None
    out: dict[str, Any] = {k: round(sum(float(c.get(k) or 0.0) for c in present), 6)
                           for k in ("vcpu_hours", "memory_gb_hours", "storage_gb_hours")}
    prices = [c.get("price_usd") for c in present]
    out["price_usd"] = None if None in prices else round(sum(float(p) for p in prices if p is not None), 6)
    return out


def _job_entry(rec: dict[str, Any], level: int) -> TimelineEntry | None:
    start = _ts(rec.get("submitted_at"))
    if start is None:
        return None
    end = _ts(rec.get("ended_at"))
    dur = f", {rec['duration_s']:.1f}s" if isinstance(rec.get("duration_s"), (int, float)) else ""
    return TimelineEntry(f"{rec.get('pipeline')}/{rec.get('step')}", start, end, rec.get("state", "?"), level,
                         f"run {rec['run_id']}: {rec.get('state')}{dur}")


def step_attempts(step: dict[str, Any]) -> list[dict[str, Any]]:
    """A runbook step's attempts, oldest first (see deplat.runbook.Attempt). A record written before
    attempts were kept gives its one started attempt from the step's own fields."""
    if step.get("attempts"):
        return list(step["attempts"])
    if not step.get("started_at"):
        return []
    return [{"n": 1, "status": step.get("status", "?"), "started_at": step.get("started_at"),
             "ended_at": step.get("ended_at"), "duration_s": step.get("duration_s"),
             "exit_code": step.get("exit_code"), "error": step.get("error"),
             "error_excerpt": step.get("error_detail"), "run_ids": step.get("run_ids") or [],
             "rows_written": step.get("rows_written")}]


FAILED_ATTEMPT = ("failed", "interrupted")


def _from_runbook(book: dict[str, Any], by_run: dict[str, dict[str, Any]]) -> ReportData:
    data = ReportData("runbook", book["runbook_id"], book.get("env", "?"), book.get("status", "?"),
                      book.get("started_at"), book.get("duration_s"), _now(), "")
    for s in book.get("steps", []):
        name, attempts = s["name"], step_attempts(s)
        cost = sum_costs([by_run.get(rid, {}).get("cost") for a in attempts for rid in a.get("run_ids") or []])
        data.steps.append(StepRow(name, s.get("status", "?"), s.get("duration_s"), s.get("rows_written"),
                                  s.get("dq"), s.get("error") or s.get("note") or "", max(len(attempts), 1),
                                  cost))
        many = len(attempts) > 1
        for a in attempts:
            start = _ts(a.get("started_at"))
            if start is not None:
                dur = f", {a['duration_s']:.1f}s" if a.get("duration_s") is not None else ""
                code = f", exit {a['exit_code']}" if a.get("exit_code") is not None else ""
                label = f"{name} #{a['n']}" if many else name
                tip = f"{name} attempt {a['n']} of {len(attempts)}" if many else name
                data.timeline.append(TimelineEntry(label, start, _ts(a.get("ended_at")), a.get("status", "?"), 0,
                                                   f"{tip}: {a.get('status')}{dur}{code}"))
            for rid in a.get("run_ids") or []:
                entry = _job_entry(by_run[rid], 1) if rid in by_run else None
                if entry:
                    data.timeline.append(entry)
            if a.get("status") in FAILED_ATTEMPT:
                what = f"step {name}" + (f", attempt {a['n']} of {len(attempts)}" if many else "")
                what += f" (exit {a.get('exit_code')})"
                later_ok = next((b["n"] for b in attempts if b["n"] > a["n"] and b.get("status") == "ok"), None)
                if later_ok:
                    what += f", succeeded on attempt {later_ok}"
                data.failures.append(Failure(what, a.get("error") or a.get("status", ""), a.get("error_excerpt")))
                for rid in a.get("run_ids") or []:
                    rec = by_run.get(rid)
                    if rec and rec.get("state") not in ("SUCCESS", None):
                        data.failures.append(Failure(f"run {rid}", rec.get("state", ""), rec.get("details"),
                                                     of_step=True))
    return data


def _from_batch(env: str, batch: str, recs: list[dict[str, Any]]) -> ReportData:
    recs = sorted(recs, key=lambda r: r.get("submitted_at", ""))
    starts = [_ts(r.get("submitted_at")) for r in recs]
    ends = [_ts(r.get("ended_at")) for r in recs]
    t0 = min((s for s in starts if s), default=None)
    t1 = max((e for e in ends if e), default=None)
    states = {r.get("state") for r in recs}
    status = ("failed" if states & {"FAILED", "CANCELLED"} else
              "ok" if states == {"SUCCESS"} else "running")
    data = ReportData("run", batch, env, status, t0.isoformat() if t0 else None,
                      (t1 - t0).total_seconds() if t0 and t1 else None, _now(), "")
    for r in recs:
        entry = _job_entry(r, 0)
        if entry:
            data.timeline.append(entry)
        data.steps.append(StepRow(f"{r.get('pipeline')}/{r.get('step')}", r.get("state", "?"), r.get("duration_s"),
                                  None, None, r.get("details") or "", cost=r.get("cost")))
        if r.get("state") in ("FAILED", "CANCELLED"):
            data.failures.append(Failure(f"run {r['run_id']} ({r.get('pipeline')}/{r.get('step')})",
                                         r.get("state", ""), r.get("details")))
    return data


def _delta_dirs(root: Path, depth: int = 3) -> list[Path]:
    found: list[Path] = []
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if (child / "_delta_log").is_dir():
            found.append(child)
        elif depth > 1 and child.name != "_delta_log" and not child.name.startswith("_checkpoint"):
            found.extend(_delta_dirs(child, depth - 1))
    return found


def lake_tables(lake: str) -> list[TableInfo]:
    """Every Delta table under a local lake root: counted rows, version, files, last operation.

    A cloud (s3://) lake is not scanned from here: the report says so instead of guessing.
    """
    if lake.startswith("s3://"):
        return [TableInfo("-", f"{lake} (cloud lake: use `deplat query` for counts)", None, None, None, None,
                          None)]
    root = Path(lake)
    out = []
    for path in _delta_dirs(root):
        rel = path.relative_to(root).parts
        out.append(_table_info(path, rel[0], ".".join(rel[1:]) or rel[0]))
    order = {layer: i for i, layer in enumerate(LAYER_ORDER)}
    return sorted(out, key=lambda t: (order.get(t.layer, len(order)), t.layer, t.table))


def _active_files(dt: Any) -> list[tuple[str, dict[str, Any]]]:
    """(local path, partition values) of every file in the table's current version."""
    from urllib.parse import unquote, urlparse

    import pyarrow as pa

    root = Path(urlparse(dt.table_uri).path if dt.table_uri.startswith("file:") else dt.table_uri)
    parts = dt.metadata().partition_columns
    out = []
    for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist():
        rel = unquote(a["path"])
        path = Path(urlparse(rel).path) if "://" in rel else root / rel
        out.append((str(path), {c: a.get(f"partition.{c}") for c in parts}))
    return out


def _has_deletion_vectors(dt: Any) -> bool:
    return "deletionVectors" in (dt.protocol().reader_features or [])


def _table_info(path: Path, layer: str, name: str) -> TableInfo:
    # Rows are counted from the data files' own Parquet footers (exact when the table has no deletion
    # vectors), never from job metrics. Not delta-rs's to_pyarrow_dataset(): with it the process
    # intermittently aborts at exit ("terminate called without an active exception",
    # delta-io/delta-rs#2184), seen here about once in 50 `deplat report` runs.
    try:
        import pyarrow.parquet as pq
        from deltalake import DeltaTable

        dt = DeltaTable(str(path))
        files = _active_files(dt)
        last = (dt.history(1) or [{}])[0]
        ts = last.get("timestamp")
        when = datetime.fromtimestamp(ts / 1000, timezone.utc).isoformat(timespec="seconds") if ts else None
        info = TableInfo(layer, name, None, dt.version(), len(files), last.get("operation"), when)
        if _has_deletion_vectors(dt):
            info.error = "deletion vectors: rows not counted here (use `deplat query`)"
        else:
            info.rows = sum(pq.ParquetFile(f).metadata.num_rows for f, _ in files)
        return info
    except Exception as exc:  # noqa: BLE001 - one unreadable table must not hide the others
        return TableInfo(layer, name, None, None, None, None, None, f"{type(exc).__name__}: {exc}"[:300])


def dq_results(lake: str) -> tuple[list[str], list[list[Any]], str]:
    """(columns, newest rows, note) of gold.quality_results, or a note saying why there are none."""
    if lake.startswith("s3://"):
        return [], [], "cloud lake: query gold.quality_results with `deplat query`"
    path = Path(lake, *DQ_TABLE)
    if not (path / "_delta_log").is_dir():
        return [], [], "gold.quality_results does not exist yet (no DQ gate has written results)"
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from deltalake import DeltaTable

        dt = DeltaTable(str(path))
        if _has_deletion_vectors(dt):
            return [], [], "gold.quality_results has deletion vectors: read it with `deplat query`"
        pieces = []
        for f, partition in _active_files(dt):
            piece = pq.read_table(f)
            for col, value in partition.items():
                piece = piece.append_column(col, pa.array([value] * piece.num_rows))
            pieces.append(piece)
        if not pieces:
            return [], [], "gold.quality_results is empty"
        table = pa.concat_tables(pieces, promote_options="default")
    except Exception as exc:  # noqa: BLE001 - show the reason in the report
        return [], [], f"gold.quality_results unreadable: {type(exc).__name__}: {exc}"[:300]
    cols = table.column_names
    newest_first = ("checked_at", "validated_at", "run_ts", "ts", "timestamp", "run_id", "batch_id")
    order = next((c for c in newest_first if c in cols), None)
    rows = table.to_pylist()
    if order:
        rows.sort(key=lambda r: str(r.get(order)), reverse=True)
    return cols, [[r.get(c) for c in cols] for r in rows[:DQ_ROWS]], f"{table.num_rows} rows" + (
        f", newest {DQ_ROWS} shown" if table.num_rows > DQ_ROWS else "")
