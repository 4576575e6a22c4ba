"""PostgreSQL logical decoding -> files in AWS DMS's S3-target format (the local DMS stand-in).

Layout and format (as a DMS S3 endpoint with AddColumnName=true, IncludeOpForFullLoad=true,
TimestampColumnName=_dms_ts and an AR_H_CHANGE_SEQ-style `_dms_seq` column from a transformation rule):

    <landing>/<schema>/<table>/LOAD00000001.csv       full load: Op=I, _dms_ts = load time
    <landing>/<schema>/<table>/20250101-101500123456.csv   CDC: Op I/U/D, _dms_ts = commit time

Each file has a header row: Op, _dms_ts, _dms_seq, then the table's columns in PostgreSQL's text
output; NULL is written as the explicit null marker (CsvNullValue = sources.dms.DMS_NULL), so an
empty field is the empty string. `_dms_seq` = commit LSN (20 digits) +
the change's index in its transaction (15 digits), so it sorts in commit order.

Changes are read with pg_logical_slot_peek_changes up to the current WAL position and the slot is
advanced (pg_replication_slot_advance) only after the files are on disk: a crash re-reads the same
changes (at worst landing them twice, which silver's ordering makes harmless) instead of losing them.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from deplat.core.config import LocalStackSettings
from deplat.local.rds import SLOT, connect, conninfo
from deplat_job.errors import LocalStackError
from deplat_job.pipelines.source_specs import DMS_OP, DMS_SEQ, DMS_TABLES, DMS_TS
from deplat_job.sources.dms import DMS_NULL
from deplat_job.sources.rds import lsn_to_int

LOAD_ROWS_PER_FILE = 100_000
_DATA = re.compile(r"^table (?P<rel>.+?): (?P<op>INSERT|UPDATE|DELETE|TRUNCATE): ?(?P<rest>.*)$", re.DOTALL)
_COMMIT = re.compile(r"^COMMIT (?P<xid>\d+)(?: \(at (?P<ts>[^)]+)\))?$")
_OPS = {"INSERT": "I", "UPDATE": "U", "DELETE": "D"}
UNCHANGED_TOAST = object()  # test_decoding's unchanged-toast-datum


class DmsCaptureError(LocalStackError):
    """The decoded stream could not be turned into DMS files."""


@dataclass
class Change:
    schema: str
    table: str
    op: str  # I | U | D
    values: dict[str, Any]  # column -> text value (None = NULL)
    xid: int
    commit_lsn: int
    commit_ts: datetime
    index: int  # position within its transaction

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def seq(self) -> str:
        return f"{self.commit_lsn:020d}{self.index:015d}"


@dataclass
class CaptureResult:
    landing: str
    files: list[str] = field(default_factory=list)
    full_load_rows: dict[str, int] = field(default_factory=dict)
    changes: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> {I,U,D: n}
    skipped: dict[str, int] = field(default_factory=dict)  # other tables / TRUNCATE
    upto_lsn: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dms_timestamp(value: datetime) -> str:
    """DMS's timestamp column format: yyyy-MM-dd HH:mm:ss.SSSSSS (UTC)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- test_decoding parsing -------------------------------------------------------------------------

def _identifier(text: str, i: int) -> tuple[str, int]:
    """A possibly double-quoted identifier starting at i; returns (name, index after it)."""
    if text[i] != '"':
        j = i
        while j < len(text) and text[j] not in '.[ :':
            j += 1
        return text[i:j], j
    out, j = [], i + 1
    while True:
        if text[j] == '"':
            if j + 1 < len(text) and text[j + 1] == '"':
                out.append('"')
                j += 2
                continue
            return "".join(out), j + 1
        out.append(text[j])
        j += 1


def parse_relation(text: str) -> tuple[str, str]:
    schema, i = _identifier(text, 0)
    if i >= len(text) or text[i] != ".":
        raise DmsCaptureError(f"unexpected relation name {text!r}")
    table, _ = _identifier(text, i + 1)
    return schema, table


def parse_tuple(text: str) -> list[tuple[str, str, Any]]:
    """`col[type]:value ...` -> [(column, type, text value | None | UNCHANGED_TOAST)]."""
    out: list[tuple[str, str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        name, i = _identifier(text, i)
        if i >= n or text[i] != "[":
            break  # e.g. the "new-tuple:" marker handled by the caller
        end = text.index("]:", i)
        type_, i = text[i + 1:end], end + 2
        if i < n and text[i] == "'":
            chars, i = [], i + 1
            while True:
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        chars.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            value: Any = "".join(chars)
        else:
            j = text.find(" ", i)
            j = n if j < 0 else j
            raw, i = text[i:j], j
            value = None if raw == "null" else UNCHANGED_TOAST if raw == "unchanged-toast-datum" else raw
        out.append((name, type_, value))
    return out


def parse_changes(rows: Iterable[tuple[str, Any, str]], keys: dict[str, tuple[str, ...]] | None = None
                  ) -> tuple[list[Change], dict[str, int]]:
    """Decoded (lsn, xid, data) rows -> Changes in commit order, plus counts of skipped records.

    An UPDATE that changes the primary key becomes D(old key) + U(new row). Unchanged TOAST values
    are taken from the old tuple (REPLICA IDENTITY FULL) or refused.
    """
    keys = keys or {}
    changes: list[Change] = []
    pending: list[tuple[str, str, str, dict[str, Any]]] = []
    skipped: dict[str, int] = {}
    for _lsn, _xid, data in rows:
        if data.startswith("BEGIN"):
            pending = []
            continue
        commit = _COMMIT.match(data)
        if commit:
            if pending and not commit["ts"]:
                raise DmsCaptureError("COMMIT without a timestamp", "decode with 'include-timestamp' '1'")
            ts = datetime.fromisoformat(commit["ts"]).astimezone(timezone.utc) if commit["ts"] else None
            commit_lsn = lsn_to_int(_lsn)
            for index, (schema, table, op, values) in enumerate(pending):
                assert ts is not None  # pending changes: a COMMIT without a timestamp raised above
                changes.append(Change(schema, table, op, values, int(commit["xid"]), commit_lsn, ts, index))
            pending = []
            continue
        match = _DATA.match(data)
        if not match:
            raise DmsCaptureError(f"unexpected test_decoding record: {data[:200]!r}")
        schema, table = parse_relation(match["rel"])
        if match["op"] == "TRUNCATE":
            skipped["TRUNCATE"] = skipped.get("TRUNCATE", 0) + 1
            continue
        key = keys.get(f"{schema}.{table}")
        pending.extend(_records(schema, table, _OPS[match["op"]], match["rest"], key))
    return changes, skipped


def _records(schema: str, table: str, op: str, rest: str, key: tuple[str, ...] | None):
    old: dict[str, Any] = {}
    if rest.startswith("old-key: "):
        old_text, _, rest = rest[len("old-key: "):].partition(" new-tuple: ")
        old = {name: value for name, _, value in parse_tuple(old_text)}
    elif rest.startswith("new-tuple: "):
        rest = rest[len("new-tuple: "):]
    values = {name: value for name, _, value in parse_tuple(rest)}
    if op == "D":
        return [(schema, table, "D", values)]
    for name, value in values.items():
        if value is UNCHANGED_TOAST:
            if name not in old:
                raise DmsCaptureError(f"unchanged TOAST value for {schema}.{table}.{name}",
                                      f"ALTER TABLE {schema}.{table} REPLICA IDENTITY FULL")
            values[name] = old[name]
    out = []
    if op == "U" and old and key and any(old.get(k) != values.get(k) for k in key):
        out.append((schema, table, "D", {k: old.get(k) for k in key}))
    out.append((schema, table, op, values))
    return out


# -- file writing ----------------------------------------------------------------------------------

def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: Spark and DMS readers skip dot files
    count = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([DMS_NULL if v is None else v for v in row])
            count += 1
    os.replace(tmp, path)
    return count


def _cdc_name(folder: Path, ts: datetime) -> Path:
    stem = ts.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S%f")
    path, n = folder / f"{stem}.csv", 0
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.csv"
    return path


def write_changes(landing: Path, changes: list[Change], columns: dict[str, list[str]]) -> dict[str, Path]:
    """One CDC file per table (named by its first commit time); returns table -> file."""
    by_table: dict[str, list[Change]] = {}
    for ch in changes:
        by_table.setdefault(ch.qualified, []).append(ch)
    out = {}
    for qualified, table_changes in by_table.items():
        first = table_changes[0]
        cols = columns.get(qualified) or list(first.values)
        path = _cdc_name(landing / first.schema / first.table, first.commit_ts)
        rows = ([ch.op, dms_timestamp(ch.commit_ts), ch.seq, *[ch.values.get(c) for c in cols]]
                for ch in table_changes)
        _write_csv(path, [DMS_OP, DMS_TS, DMS_SEQ, *cols], rows)
        out[qualified] = path
    return out


# -- against PostgreSQL ----------------------------------------------------------------------------

def _table_columns(conn, qualified: str) -> list[str]:
    schema, table = qualified.split(".", 1)
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", (schema, table)).fetchall()
    return [r[0] for r in rows]


def _primary_key(conn, qualified: str) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
        (qualified,)).fetchall()
    return tuple(r[0] for r in rows)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def full_load(conn, landing: Path, tables: list[str],
              reload: bool = False) -> dict[str, tuple[list[Path], int]]:
    """LOAD files of every table from one REPEATABLE READ snapshot; tables already loaded are skipped
    unless `reload` (then the next LOAD number is used, as a reloaded DMS task's files are new)."""
    out: dict[str, tuple[list[Path], int]] = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        load_ts, snap_lsn = conn.execute(
            "SELECT statement_timestamp(), pg_current_wal_lsn()::text").fetchone()
        seq_base = f"{lsn_to_int(snap_lsn):020d}"
        for qualified in tables:
            schema, table = qualified.split(".", 1)
            folder = landing / schema / table
            existing = sorted(folder.glob("LOAD*.csv"))
            if existing and not reload:
                continue
            number = int(existing[-1].stem[4:], 16) + 1 if existing else 1
            cols = _table_columns(conn, qualified)
            pk = _primary_key(conn, qualified) or tuple(cols)
            select = (f"SELECT {', '.join('t.' + _quote(c) + '::text' for c in cols)} "
                      f"FROM {_quote(schema)}.{_quote(table)} AS t "
                      f"ORDER BY {', '.join('t.' + _quote(c) for c in pk)}")
            cur = conn.cursor(name=f"dms_load_{schema}_{table}")
            cur.itersize = 5000
            cur.execute(select)
            total, paths = 0, []
            while True:
                batch = cur.fetchmany(LOAD_ROWS_PER_FILE)
                if not batch:
                    break
                path = folder / f"LOAD{number:08X}.csv"
                rows = (["I", dms_timestamp(load_ts), f"{seq_base}{total + i:015d}", *r]
                        for i, r in enumerate(batch))
                total += _write_csv(path, [DMS_OP, DMS_TS, DMS_SEQ, *cols], rows)
                paths.append(path)
                number += 1
            cur.close()
            out[qualified] = (paths, total)
    return out


def capture_changes(conn, landing: Path, slot: str, tables: list[str] | None) -> CaptureResult:
    """Decode the slot's pending changes, write CDC files for `tables` (None: all), advance the slot.

    Changes of other tables are consumed and dropped, as a DMS task's table mappings exclude them.
    """
    result = CaptureResult(str(landing))
    if not conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
        raise DmsCaptureError(f"replication slot '{slot}' does not exist", "run the source seeding first")
    upto = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    rows = conn.execute(
        "SELECT lsn::text, xid::text, data FROM pg_logical_slot_peek_changes(%s, %s::pg_lsn, NULL, "
        "'include-timestamp', '1', 'include-xids', '1')", (slot, upto)).fetchall()
    wanted = set(tables) if tables is not None else None
    # cast: typing only (a "table " record _DATA does not match still fails here with a TypeError)
    relations = {cast("re.Match[str]", _DATA.match(r[2]))["rel"] for r in rows if r[2].startswith("table ")}
    names = {parse_relation(rel) for rel in relations}
    qualified = sorted(f"{s}.{t}" for s, t in names if wanted is None or f"{s}.{t}" in wanted)
    keys = {q: _primary_key(conn, q) for q in qualified if _exists(conn, q)}
    columns = {q: _table_columns(conn, q) for q in keys}
    changes, result.skipped = parse_changes(rows, keys)
    kept = [c for c in changes if wanted is None or c.qualified in wanted]
    for ch in changes:
        if wanted is not None and ch.qualified not in wanted:
            result.skipped[ch.qualified] = result.skipped.get(ch.qualified, 0) + 1
    files = write_changes(landing, kept, columns)
    result.files = [str(p) for p in files.values()]
    for ch in kept:
        counts = result.changes.setdefault(ch.qualified, {"I": 0, "U": 0, "D": 0})
        counts[ch.op] += 1
    conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, upto))
    result.upto_lsn = upto
    return result


def _exists(conn, qualified: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]


def dms_capture(
    landing: str | Path,
    settings: LocalStackSettings | None = None,
    dsn: str | None = None,
    slot: str = SLOT,
    tables: list[str] | None = None,
    full: bool = False,
    reload: bool = False,
) -> CaptureResult:
    """`deplat local dms-capture`: optional full load, then the slot's pending changes, as DMS files.

    `tables` ("schema.table") defaults to the declared DMS tables (deplat_job.pipelines.source_specs).
    """
    landing = Path(landing)
    tables = list(tables) if tables is not None else list(DMS_TABLES)
    conn = connect(dsn or conninfo(settings or LocalStackSettings()), autocommit=True)
    try:
        loaded = full_load(conn, landing, tables, reload) if full else {}
        result = capture_changes(conn, landing, slot, tables)
    finally:
        conn.close()
    result.files = [str(p) for paths, _ in loaded.values() for p in paths] + result.files
    result.full_load_rows = {t: n for t, (_, n) in loaded.items()}
    return result


@dataclass
class KeySnapshotResult:
    table: str
    file: str
    source_keys: int
    snapshot_seq: str
    ghost_keys: int | None = None  # silver keys the source lacks now (None: no silver table yet)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_key_snapshot(conn, keys_dir: Path, qualified: str) -> tuple[Path, int, str, list[tuple]]:
    """The table's primary keys from one REPEATABLE READ snapshot (sources.rds.take_key_snapshot),
    written in the one snapshot format (sources.dms.key_snapshot_file) into `keys_dir`.

    Returns (file, number of keys, sequence, the keys as text tuples).
    """
    from deplat_job.sources.dms import key_snapshot_file
    from deplat_job.sources.rds import take_key_snapshot

    try:
        snapshot = take_key_snapshot(conn, qualified, scale="wal")  # the scale this capture writes
    except ValueError as exc:
        raise DmsCaptureError(str(exc)) from None
    name, text = key_snapshot_file("", snapshot)
    path = keys_dir / name.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: the silver step's listing skips dot files
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path, len(snapshot.rows), snapshot.seq, snapshot.rows


def reconcile_keys(lake: str, qualified: str, settings: LocalStackSettings | None = None,
                   dsn: str | None = None) -> KeySnapshotResult:
    """`deplat dr reconcile <table> --direct` (local env): land a key snapshot of the RDS stand-in's
    table from this process (the `dms_key_snapshot` job does the same on the engine).

    The next DMS silver step removes the ghost keys it reveals (keys silver holds whose last change
    precedes the snapshot and that the source no longer has: a primary-key change that DMS's S3
    target delivers as an update of the new key only). `ghost_keys` previews them against the
    current silver table.
    """
    from deplat_job.pipelines.source_specs import DMS_TABLES
    from deplat_job.sources.dms import keys_dir

    if qualified not in DMS_TABLES:
        raise DmsCaptureError(f"unknown DMS table {qualified!r}", f"one of: {', '.join(DMS_TABLES)}")
    spec = DMS_TABLES[qualified]
    conn = connect(dsn or conninfo(settings or LocalStackSettings()), autocommit=True)
    try:
        path, n, seq, keys = write_key_snapshot(conn, Path(keys_dir(lake, spec.schema, spec.table)), qualified)
    finally:
        conn.close()
    result = KeySnapshotResult(qualified, str(path), n, seq)
    silver = Path(lake) / "silver" / spec.silver_table
    if (silver / "_delta_log").is_dir():
        from deltalake import DeltaTable

        held = DeltaTable(str(silver)).to_pyarrow_table(columns=list(spec.key)).to_pylist()
        source_keys = {tuple(k) for k in keys}
        result.ghost_keys = sum(1 for r in held if tuple(str(r[k]) for k in spec.key) not in source_keys)
    return result
