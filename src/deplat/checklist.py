"""`deplat checklist daily|weekly|monthly`: the runbook's maintenance checklist as checks that run.

Each check reads what is already there (the run history, the lake's Delta logs through delta-rs,
`_errors/`, installed package versions) and says `ok`, `attention` (with what to do) or `info`.
Nothing here starts Spark or changes anything. Delta logs are read from a local lake; for an s3://
lake the lake-level checks say to use `deplat dr history` / `deplat query` instead.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deplat.core.context import Context

FREQUENCIES = ("daily", "weekly", "monthly")
OPTIMIZE_EVERY = timedelta(days=7)
SMALL_FILE_BYTES = 32 * 1024 * 1024  # files below this count as "small" for the optimize-due check
SMALL_FILES_DUE = 50  # a table with more small files than this is due for OPTIMIZE
LAYERS = ("bronze", "silver", "gold", "_errors")


@dataclass
class ChecklistItem:
    check: str
    status: str  # ok | attention | info
    detail: str
    action: str = ""


@dataclass
class ChecklistResult:
    env: str
    frequency: str
    items: list[ChecklistItem] = field(default_factory=list)

    @property
    def attention(self) -> list[ChecklistItem]:
        return [i for i in self.items if i.status == "attention"]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "attention": len(self.attention)}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse(ts: Any) -> datetime | None:
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    if not ts:
        return None
    try:
        value = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _tables(lake: Path, layers=LAYERS) -> list[tuple[str, Path]]:
    out = []
    for layer in layers:
        root = lake / layer
        if root.is_dir():
            out += [(f"{layer}.{p.name}", p) for p in sorted(root.iterdir()) if (p / "_delta_log").is_dir()]
    return out


def failed_runs(records: list[dict[str, Any]], now: datetime, window: timedelta = timedelta(days=1)
                ) -> ChecklistItem:
    """Runs that ended FAILED/CANCELLED within the window (from `.deplat/<env>/runs.jsonl`)."""
    recent = [r for r in records if (_parse(r.get("submitted_at")) or now - 2 * window) >= now - window]
    bad = [r for r in recent if r.get("state") in ("FAILED", "CANCELLED")]
    if not bad:
        return ChecklistItem("failed runs (24 h)", "ok", f"{len(recent)} run(s), none failed")
    names = ", ".join(sorted({f"{r.get('pipeline')}/{r.get('step')} ({r['run_id']}, {r['state']})" for r in bad}))
    failed = sum(r.get("state") == "FAILED" for r in bad)
    counts = f"{failed} failed, {len(bad) - failed} cancelled of {len(recent)}"
    return ChecklistItem("failed runs (24 h)", "attention", f"{counts}: {names}",
                         "`deplat logs <run id> --stderr`, fix, then `deplat run <pipeline>` "
                         "or `deplat dr reprocess`")


def dq_results(lake: Path, now: datetime, window: timedelta = timedelta(days=1)) -> ChecklistItem:
    """Failed expectations in gold.quality_results within the window, if the table exists."""
    path = lake / "gold" / "quality_results"
    if not (path / "_delta_log").is_dir():
        return ChecklistItem("data quality (24 h)", "info", "gold.quality_results does not exist yet",
                             "run the DQ gates (`deplat dq ...`)")
    from deltalake import DeltaTable

    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    stamp = next((c for c in ("checked_at", "run_ts", "validated_at", "ts", "timestamp")
                  if rows and c in rows[0]), None)
    if stamp:
        rows = [r for r in rows if (_parse(r.get(stamp)) or now - 2 * window) >= now - window]
    failed = [r for r in rows if r.get("success") is False]
    if not failed:
        return ChecklistItem("data quality (24 h)", "ok", f"{len(rows)} result(s), none failed")
    what = sorted({str(r.get("suite") or r.get("table") or "?") for r in failed})
    return ChecklistItem("data quality (24 h)", "attention",
                         f"{len(failed)} failed expectation(s) in {', '.join(what)}",
                         "`deplat dq` for the failing suite; fix the data or the suite")


def error_rows(lake: Path, now: datetime, window: timedelta = timedelta(days=1)) -> ChecklistItem:
    """Rows rejected into `_errors/<source>` within the window, per source."""
    tables = _tables(lake, ("_errors",))
    if not tables:
        return ChecklistItem("rejected rows (_errors, 24 h)", "ok", "no _errors tables")
    from deltalake import DeltaTable

    counts = {}
    for name, path in tables:
        stamps = DeltaTable(str(path)).to_pyarrow_table(columns=["rejected_at"]).column(0).to_pylist()
        counts[name.split(".", 1)[1]] = sum(1 for s in stamps if (_parse(s) or now - 2 * window) >= now - window)
    fresh = {k: v for k, v in counts.items() if v}
    if not fresh:
        return ChecklistItem("rejected rows (_errors, 24 h)", "ok", f"none new in {', '.join(counts)}")
    return ChecklistItem("rejected rows (_errors, 24 h)", "attention",
                         ", ".join(f"{k}={v}" for k, v in sorted(fresh.items())),
                         "`deplat query \"SELECT reason, count(*) FROM _errors.<source> GROUP BY 1\"`")


def late_rows(lake: Path, now: datetime, window: timedelta = timedelta(days=1)) -> ChecklistItem:
    """Salesforce records that became visible later than the lookback, as the late-row checks of
    `salesforce_to_bronze` found (and loaded) them within the window
    (lake/_state/salesforce/late_checks, one row per check)."""
    name = "late rows (salesforce, 24 h)"
    path = lake / "_state" / "salesforce" / "late_checks"
    if not (path / "_delta_log").is_dir():
        return ChecklistItem(name, "info", "no late-row check has run yet",
                             "`deplat run salesforce` checks once a day (--late-check-every-seconds)")
    from deltalake import DeltaTable

    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    recent = [r for r in rows if (_parse(r.get("checked_at")) or now - 2 * window) >= now - window]
    if not recent:
        stamps = [t for r in rows if (t := _parse(r.get("checked_at"))) is not None]
        last = max(stamps, default=None)
        return ChecklistItem(name, "info", f"no late-row check in 24 h (last: {last and last.isoformat()})",
                             "the next `deplat run salesforce` runs one")
    late = [r for r in recent if r.get("late_rows")]
    if not late:
        return ChecklistItem(name, "ok", f"{len(recent)} check(s), no late rows")
    per_object: dict[str, int] = {}
    for r in late:
        per_object[r["object"]] = per_object.get(r["object"], 0) + int(r["late_rows"])
    behind = max(int(r.get("max_behind_seconds") or 0) for r in late)
    ids = sorted({i for r in late for i in (r.get("late_ids") or "").split(",") if i})
    detail = (", ".join(f"{k}={v}" for k, v in sorted(per_object.items()))
              + f" (up to {behind} s behind the watermark; Ids {', '.join(ids)})")
    return ChecklistItem(name, "attention", detail,
                         "loaded by the late-row check; raise salesforce_to_bronze's --lookback-seconds "
                         "above that delay so the regular read sees such rows")


def lake_size(lake: Path) -> ChecklistItem:
    """Files and bytes in storage per layer (old versions included)."""
    parts = []
    for layer in LAYERS:
        files = [p for p in (lake / layer).rglob("*") if p.is_file()] if (lake / layer).is_dir() else []
        size = sum(p.stat().st_size for p in files)
        parts.append(f"{layer}: {len(files)} files, {size / 1e6:.1f} MB")
    return ChecklistItem("lake size per layer", "info", "; ".join(parts))


def optimize_due(lake: Path, now: datetime) -> ChecklistItem:
    """Silver/gold tables with many small files and no OPTIMIZE in the last 7 days."""
    import pyarrow as pa
    from deltalake import DeltaTable

    due = []
    for name, path in _tables(lake, ("silver", "gold")):
        dt = DeltaTable(str(path))
        sizes = pa.table(dt.get_add_actions(flatten=True)).column("size_bytes").to_pylist()
        small = sum(1 for s in sizes if s < SMALL_FILE_BYTES)
        optimized = [h["timestamp"] for h in dt.history() if h.get("operation") == "OPTIMIZE"]
        last = datetime.fromtimestamp(max(optimized) / 1000, tz=timezone.utc) if optimized else None
        stale = last is None or now - last > OPTIMIZE_EVERY
        if small > SMALL_FILES_DUE and stale:
            due.append(f"{name} ({small} small files)")
    if not due:
        return ChecklistItem("optimize due", "ok", "no table over the small-file threshold without a "
                             "recent OPTIMIZE")
    return ChecklistItem("optimize due", "attention", ", ".join(due),
                         "`deplat optimize` (or wait for the weekly schedule)")


def dependency_drift(root: Path) -> ChecklistItem:
    """Installed versions that differ from the exact pins in pyproject.toml (`==`).

    Whether newer releases exist is for Dependabot/Renovate on the repository, not a per-run
    registry lookup.
    """
    from importlib.metadata import PackageNotFoundError, version

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {})
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    drift = []
    for spec in specs:
        head = spec.split(";")[0].strip()
        if "==" not in head:
            continue
        name, pinned = (x.strip() for x in head.split("==", 1))
        name = name.split("[")[0]
        try:
            have = version(name)
        except PackageNotFoundError:
            continue
        if not (have.startswith(pinned[:-1]) if pinned.endswith(".*") else have == pinned):
            drift.append(f"{name} {have} (pinned {pinned})")
    if not drift:
        return ChecklistItem("dependency pins", "ok", "installed versions match pyproject's pins")
    return ChecklistItem("dependency pins", "attention", "; ".join(sorted(set(drift))),
                         "reinstall the project with pip, then `deplat deploy` so the jobs get the same")


def lost_data_files(ctx: Context) -> ChecklistItem:
    """Data files the current version of a lake table references in its Delta log but storage lacks
    (recovery.lost_data_files: the logs and one listing per table), local or S3."""
    from deplat.recovery import LOST_FILE_FIX, lake_tables
    from deplat.recovery import lost_data_files as find

    tables = lake_tables(ctx)
    lost = find(ctx, tables)
    check = "data files missing from storage"
    if not lost:
        return ChecklistItem(check, "ok", f"{len(tables)} table(s): every data file their current version "
                                          "references is in storage")
    return ChecklistItem(check, "attention", "; ".join(x.describe() for x in lost), LOST_FILE_FIX)


def run_checklist(ctx: Context, frequency: str, now: datetime | None = None) -> ChecklistResult:
    """The checks of one frequency (weekly includes daily; monthly includes both)."""
    from deplat.runs import HISTORY_FILE, RunHistory
    from deplat_job.errors import ConfigError

    if frequency not in FREQUENCIES:
        raise ConfigError(f"unknown checklist '{frequency}'", f"choose one of: {', '.join(FREQUENCIES)}")
    now = now or _now()
    result = ChecklistResult(ctx.env.name, frequency)
    lake_uri = ctx.lake_uri
    local_lake = None if lake_uri.startswith("s3://") else Path(lake_uri)
    level = FREQUENCIES.index(frequency)
    result.items.append(failed_runs(RunHistory(ctx.state_dir / HISTORY_FILE).records(), now))
    result.items.append(lost_data_files(ctx))
    if local_lake is None:
        result.items.append(ChecklistItem("lake checks", "info", f"{lake_uri} is on S3",
                                          "`deplat dr history <table>`, `deplat query` for the details"))
        return result
    result.items += [dq_results(local_lake, now), error_rows(local_lake, now), late_rows(local_lake, now)]
    if level >= 1:
        result.items += [lake_size(local_lake), optimize_due(local_lake, now)]
    if level >= 2:
        result.items.append(dependency_drift(ctx.root))
    return result
