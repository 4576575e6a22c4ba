"""A small reader of a Delta table's transaction log (`_delta_log/`): the live data files of a version,
their row counts and deletion vectors, the commits. No JVM, no data file and no reader-feature support
needed, so it answers where a table reader refuses (delta-rs 1.6 and deletion vectors) or fails (a data
file of the version is gone).

Facts from the Delta protocol (PROTOCOL.md, "Action Reconciliation", "Add File and Remove File",
"Per-file Statistics", "Deletion Vectors", "Checkpoints"): a version's live files are the newest
checkpoint at or before it plus the `add`/`remove` actions of the later commits, a file being
identified by its path and its deletion vector's unique id; `stats.numRecords` is the number of
records the writer put in the file; a deletion vector's `cardinality` is how many of them are
deleted. Classic checkpoints (one Parquet file, or `.checkpoint.<i>.<n>.parquet` parts) are read;
a V2 checkpoint (`.checkpoint.<uuid>.{json,parquet}`) is reported as not readable here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from deplat_job.errors import ConfigError, DeplatError, ExitCode

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CLASSIC_CP = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d+)\.(\d+))?\.parquet$")
_V2_CP = re.compile(r"^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(?:json|parquet)$")


class LogUnreadableError(DeplatError):
    """The log cannot give this version (commits cleaned up, a checkpoint kind not read here)."""

    exit_code = ExitCode.USAGE


@dataclass
class DataFile:
    path: str  # as in the log: relative to the table (URL-encoded) or an absolute URI
    size: int
    num_records: int | None  # stats.numRecords; None when the writer kept no statistics
    deleted: int = 0  # the deletion vector's cardinality

    @property
    def rows(self) -> int | None:
        return None if self.num_records is None else self.num_records - self.deleted


@dataclass
class Snapshot:
    """The live files of one version and the commits up to it (version -> commitInfo)."""

    uri: str
    version: int
    files: list[DataFile]
    commits: dict[int, dict[str, Any]] = field(default_factory=dict)
    reader_features: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int | None:
        """Rows of the version from the log (numRecords - deleted per file); None if a file has no stats."""
        counts = [f.rows for f in self.files]
        known = [c for c in counts if c is not None]
        return None if len(known) < len(counts) else sum(known)

    @property
    def unstated(self) -> int:
        """Files without a numRecords statistic."""
        return sum(f.num_records is None for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file_uri(self, f: DataFile) -> str:
        """The data file's absolute location (the log's relative paths are URL-encoded)."""
        if urlparse(f.path).scheme:
            return f.path
        return f"{self.uri.rstrip('/')}/{unquote(f.path)}"


class LogStore:
    """Lists and reads `_delta_log/` of a table: a local folder, or s3:// through a boto3 client."""

    def __init__(self, uri: str, s3_client: Any = None):
        self.uri = uri.rstrip("/")
        parsed = urlparse(self.uri)
        self.remote = parsed.scheme in ("s3", "s3a")
        self._s3 = s3_client
        if self.remote:
            self._bucket, self._prefix = parsed.netloc, parsed.path.lstrip("/") + "/_delta_log/"
        else:
            self._dir = os.path.join(parsed.path if parsed.scheme == "file" else self.uri, "_delta_log")

    def names(self) -> list[str]:
        if not self.remote:
            return sorted(os.listdir(self._dir)) if os.path.isdir(self._dir) else []
        names = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix):
            names += [o["Key"][len(self._prefix):] for o in page.get("Contents", [])]
        return sorted(names)

    def read(self, name: str) -> bytes:
        if not self.remote:
            with open(os.path.join(self._dir, name), "rb") as fh:
                return fh.read()
        return self._s3.get_object(Bucket=self._bucket, Key=self._prefix + name)["Body"].read()


def _key(action: dict[str, Any]) -> tuple[str, str]:
    dv = action.get("deletionVector") or {}
    dv_id = f"{dv.get('storageType', '')}{dv.get('pathOrInlineDv', '')}{dv.get('offset') or ''}"
    return action["path"], dv_id


def _data_file(add: dict[str, Any]) -> DataFile:
    stats = add.get("stats")
    records = None
    if isinstance(stats, str) and stats:
        records = json.loads(stats).get("numRecords")
    elif isinstance(stats, dict):
        records = stats.get("numRecords")
    dv = add.get("deletionVector") or {}
    return DataFile(add["path"], int(add.get("size") or 0), None if records is None else int(records),
                    int(dv.get("cardinality") or 0))


def _checkpoint_adds(store: LogStore, names: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    import io

    import pyarrow.parquet as pq

    live: dict[tuple[str, str], dict[str, Any]] = {}
    for name in names:
        table = pq.read_table(io.BytesIO(store.read(name)), columns=["add"])
        for row in table.column("add").to_pylist():
            if row and row.get("path"):
                live[_key(row)] = row
    return live


def _checkpoints(names: list[str]) -> dict[int, list[str]]:
    """Complete classic checkpoints: version -> its file names (all parts present)."""
    parts: dict[int, list[tuple[int, int, str]]] = {}
    for name in names:
        m = _CLASSIC_CP.match(name)
        if m:
            parts.setdefault(int(m.group(1)), []).append((int(m.group(2) or 1), int(m.group(3) or 1), name))
    complete = {}
    for version, found in parts.items():
        total = found[0][1]
        if {p for p, n, _ in found if n == total} == set(range(1, total + 1)):
            complete[version] = sorted(name for _, n, name in found if n == total)
    return complete


def read_snapshot(uri: str, version: int | None = None, s3_client: Any = None,
                  store: LogStore | None = None) -> Snapshot:
    """The table at `uri` at `version` (default: the newest) from its log alone.

    Raises ConfigError (exit 2) when `uri` holds no Delta log, LogUnreadableError (exit 2) when the
    commits needed were cleaned up or only a V2 checkpoint covers them.
    """
    store = store or LogStore(uri, s3_client)
    names = store.names()
    commits = {int(m.group(1)): n for n in names if (m := _COMMIT.match(n))}
    checkpoints = _checkpoints(names)
    if not commits and not checkpoints:
        raise ConfigError(f"no Delta table at {uri}", "check the name and that its pipeline ran")
    newest = max([*commits, *checkpoints])
    version = newest if version is None else version
    if version > newest or version < 0:
        raise ConfigError(f"version {version} is not in the table's log", f"the newest is {newest}")
    base = max((v for v in checkpoints if v <= version), default=-1)
    missing = [v for v in range(base + 1, version + 1) if v not in commits]
    if missing:
        v2 = [n for n in names if _V2_CP.match(n)]
        why = ("only a V2 checkpoint covers them (not read here)" if v2
               else "they were cleaned up (log retention)")
        raise LogUnreadableError(f"{uri}: version {version} needs commits {missing[0]}..{missing[-1]}, and "
                                 f"{why}", "pick a newer version")
    live = _checkpoint_adds(store, checkpoints[base]) if base >= 0 else {}
    infos: dict[int, dict[str, Any]] = {}
    features: list[str] = []
    for v in range(base + 1, version + 1):
        for line in store.read(commits[v]).decode().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "add" in action:
                live[_key(action["add"])] = action["add"]
            elif "remove" in action:
                live.pop(_key(action["remove"]), None)
            elif "commitInfo" in action:
                infos[v] = action["commitInfo"]
            elif "protocol" in action:
                features = list(action["protocol"].get("readerFeatures") or [])
    return Snapshot(uri, version, [_data_file(a) for a in live.values()], infos, features)


def commit_infos(uri: str, s3_client: Any = None, store: LogStore | None = None) -> dict[int, dict[str, Any]]:
    """version -> commitInfo of every commit file still in the log (newest checkpoints make no commitInfo)."""
    store = store or LogStore(uri, s3_client)
    out: dict[int, dict[str, Any]] = {}
    for name in store.names():
        m = _COMMIT.match(name)
        if not m:
            continue
        for line in store.read(name).decode().splitlines():
            if '"commitInfo"' in line:
                out[int(m.group(1))] = json.loads(line)["commitInfo"]
                break
        else:
            out[int(m.group(1))] = {}
    return out


def missing_files(snapshot: Snapshot, exists: Callable[[list[str]], set[str]]) -> list[str]:
    """The data-file URIs of the snapshot that storage lacks; `exists(uris)` returns those present."""
    uris = [snapshot.file_uri(f) for f in snapshot.files]
    present = exists(uris)
    return sorted(u for u in uris if u not in present)
