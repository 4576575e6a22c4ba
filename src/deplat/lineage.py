"""OpenLineage for `deplat run`: START, COMPLETE and FAIL run events per job step, and the graph
`deplat lineage show` draws from them.

Events follow the OpenLineage object model (https://openlineage.io/spec/2-0-2/OpenLineage.json):
job `<pipeline>.<step>` in the configured namespace, a run id per engine run (uuid5 of it, so the
START and the COMPLETE/FAIL of one run agree), the pipeline batch as the `parent` run facet, an
`errorMessage` run facet on FAIL, and the step's input/output datasets from the static declaration
`deplat.registry.STEPS` (each Step's inputs and outputs). Lake datasets follow the OpenLineage naming spec
(namespace `file` + absolute path locally, `s3://<bucket>` + key prefix in the cloud).

Transports: a JSON-lines file per batch under `<lake>/_lineage/` locally, one object per event
under `s3://<lake>/_lineage/<batch>/` in the cloud, and HTTP POST to `OPENLINEAGE_URL` (+
`OPENLINEAGE_ENDPOINT`, default `api/v1/lineage`; `OPENLINEAGE_API_KEY` as a bearer token) when set.
`OPENLINEAGE_DISABLED=true` turns it off. A transport error is a warning: lineage never fails a run;
an API key with a plain-http URL off loopback is refused (exit 2) before the run starts.
The events are written with the standard library: openlineage-python would add six dependencies
for one JSON POST.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat import __version__
from deplat_job.errors import ConfigError

if TYPE_CHECKING:
    from deplat.core.context import Context

PRODUCER = f"https://github.com/deplat/deplat/tree/{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACET_BASE = "https://openlineage.io/spec/facets/1-0-1"
LINEAGE_DIR = "_lineage"
_SOURCE_NAMESPACES = {"ecb": "https://www.ecb.europa.eu", "snowflake": "snowflake", "salesforce": "salesforce",
                      "postgres": "postgres", "kafka": "kafka"}


def run_uuid(env: str, run_id: str) -> str:
    """The OpenLineage runId (a UUID) of an engine run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deplat:{env}:{run_id}"))


class LakeNames:
    """`<layer>.<table>` and `<system>:<name>` <-> OpenLineage dataset (namespace, name)."""

    def __init__(self, lake_uri: str):
        self.lake = lake_uri.rstrip("/")
        self.s3 = self.lake.startswith("s3://")
        self.bucket, _, self.prefix = self.lake[len("s3://"):].partition("/") if self.s3 else ("", "", "")

    def dataset(self, declared: str) -> dict[str, str]:
        if ":" in declared:
            system, name = declared.split(":", 1)
            return {"namespace": _SOURCE_NAMESPACES.get(system, system), "name": name}
        layer, table = declared.split(".", 1)
        if self.s3:
            return {"namespace": f"s3://{self.bucket}", "name": "/".join(p for p in (self.prefix, layer, table) if p)}
        return {"namespace": "file", "name": f"{self.lake}/{layer}/{table}"}

    def display(self, ds: dict[str, Any]) -> str:
        ns, name = ds["namespace"], ds["name"]
        lake_name = None
        if ns == "file" and name.startswith(self.lake + "/"):
            lake_name = name[len(self.lake) + 1:]
        elif self.s3 and ns == f"s3://{self.bucket}":
            lake_name = name[len(self.prefix) + 1:] if self.prefix and name.startswith(self.prefix + "/") else name
        if lake_name and lake_name.count("/") == 1:
            return lake_name.replace("/", ".")
        system = next((k for k, v in _SOURCE_NAMESPACES.items() if v == ns), ns)
        return f"{system}:{name}"


@dataclass
class FileTransport:
    folder: Path

    def emit(self, event: dict[str, Any], batch_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{batch_id}.jsonl").open("a") as fh:
            fh.write(json.dumps(event, sort_keys=True) + "\n")


@dataclass
class S3Transport:
    client: Any
    bucket: str
    prefix: str

    def emit(self, event: dict[str, Any], batch_id: str) -> None:
        key = f"{self.prefix}{batch_id}/{event['eventTime']}-{event['eventType']}-{event['run']['runId']}.json"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(event).encode())


@dataclass
class HttpTransport:
    url: str
    endpoint: str = "api/v1/lineage"
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 5.0

    def __post_init__(self) -> None:
        from urllib.parse import urlparse

        from deplat_job.shared import refuse_plaintext

        parsed = urlparse(self.url)
        if self.api_key and parsed.scheme != "https":
            refuse_plaintext(f"the OpenLineage API key over {parsed.scheme or 'a URL without scheme'}",
                             [parsed.hostname or ""],
                             "use an https OPENLINEAGE_URL (plain http only for a loopback collector)")

    def emit(self, event: dict[str, Any], batch_id: str) -> None:
        import urllib.request

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(f"{self.url.rstrip('/')}/{self.endpoint.lstrip('/')}",
                                     data=json.dumps(event).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
            resp.read()


class LineageEmitter:
    """Emits a step's run events to every transport; failures become reporter warnings."""

    def __init__(self, transports: list[Any], namespace: str, lake_uri: str, env: str, batch_id: str,
                 pipeline: str, reporter: Any):
        self.transports = transports
        self.namespace = namespace
        self.names = LakeNames(lake_uri)
        self.env = env
        self.batch_id = batch_id
        self.pipeline = pipeline
        self.reporter = reporter
        self._warned: set[str] = set()
        self._datasets: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def start(self, pipeline: str, step: str, run_id: str, args: tuple[str, ...] = ()) -> None:
        self._datasets[run_id] = step_datasets(step, args)
        self._emit("START", pipeline, step, run_id)

    def finish(self, pipeline: str, step: str, run_id: str, succeeded: bool, message: str = "") -> None:
        self._emit("COMPLETE" if succeeded else "FAIL", pipeline, step, run_id, message)

    def event(self, event_type: str, pipeline: str, step: str, run_id: str, message: str = "") -> dict[str, Any]:
        """The RunEvent as a dict (OpenLineage 2-0-2)."""
        inputs, outputs = self._datasets.get(run_id) or step_datasets(step)
        facets: dict[str, Any] = {"parent": {
            "_producer": PRODUCER, "_schemaURL": f"{_FACET_BASE}/ParentRunFacet.json#/$defs/ParentRunFacet",
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"deplat:{self.env}:batch:{self.batch_id}"))},
            "job": {"namespace": self.namespace, "name": self.pipeline}}}
        if event_type == "FAIL":
            facets["errorMessage"] = {
                "_producer": PRODUCER,
                "_schemaURL": f"{_FACET_BASE}/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                "message": message or "step failed", "programmingLanguage": "python"}
        return {
            "eventType": event_type,
            "eventTime": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "producer": PRODUCER, "schemaURL": SCHEMA_URL,
            "run": {"runId": run_uuid(self.env, run_id), "facets": facets},
            "job": {"namespace": self.namespace, "name": f"{pipeline}.{step}", "facets": {"jobType": {
                "_producer": PRODUCER, "_schemaURL": f"{_FACET_BASE}/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                "processingType": "STREAMING" if step == "kafka_orders_stream" else "BATCH",
                "integration": "SPARK", "jobType": "JOB"}}},
            "inputs": [self.names.dataset(d) for d in inputs],
            "outputs": [self.names.dataset(d) for d in outputs],
        }

    def _emit(self, event_type: str, pipeline: str, step: str, run_id: str, message: str = "") -> None:
        event = self.event(event_type, pipeline, step, run_id, message)
        for transport in self.transports:
            try:
                transport.emit(event, self.batch_id)
            except Exception as exc:  # noqa: BLE001 - lineage must never fail a run
                kind = type(transport).__name__
                if kind not in self._warned:
                    self._warned.add(kind)
                    self.reporter.warn(f"lineage: {kind} failed ({type(exc).__name__}: {exc}); the run goes on")


def step_datasets(step: str, args: tuple[str, ...] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs) of a step: registry.Step's inputs/outputs, except that a DQ check (`--suites` JSON)
    reads exactly its suites' tables and their referential tables."""
    from deplat.registry import datasets

    if "--suites" in args[:-1]:
        try:
            suites = json.loads(args[args.index("--suites") + 1])
            tables = [s["table"] for s in suites]
            tables += [c["params"]["ref_table"] for s in suites for c in s.get("checks", [])
                       if c.get("params", {}).get("ref_table")]
            return tuple(dict.fromkeys(tables)), datasets(step)[1]
        except (ValueError, KeyError, TypeError, IndexError):
            pass  # not the shape we know: the static declaration
    return datasets(step)


class _Null:
    def start(self, *a: Any, **k: Any) -> None:
        pass

    def finish(self, *a: Any, **k: Any) -> None:
        pass


def emitter_for(ctx: Context, batch_id: str, pipeline: str) -> LineageEmitter | _Null:
    """The run's emitter (a no-op when lineage is disabled or unconfigured); never raises."""
    try:
        cfg = getattr(ctx.settings, "lineage", None)
        if cfg is None or not cfg.enabled or os.environ.get("OPENLINEAGE_DISABLED", "").lower() == "true":
            return _Null()
        lake = ctx.lake_uri
        transports: list[Any] = []
        if lake.startswith("s3://"):
            bucket, _, prefix = lake[len("s3://"):].partition("/")
            transports.append(S3Transport(ctx.aws.client("s3"), bucket,
                                          f"{prefix + '/' if prefix else ''}{LINEAGE_DIR}/"))
        else:
            transports.append(FileTransport(Path(lake) / LINEAGE_DIR))
        if os.environ.get("OPENLINEAGE_URL"):
            transports.append(HttpTransport(os.environ["OPENLINEAGE_URL"],
                                            os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
                                            os.environ.get("OPENLINEAGE_API_KEY")))
        return LineageEmitter(transports, cfg.namespace, lake, ctx.env.name, batch_id, pipeline, ctx.reporter)
    except ConfigError:
        raise  # a bearer key about to go out in clear text: refuse the run rather than warn
    except Exception as exc:  # noqa: BLE001 - lineage must never fail a run
        ctx.reporter.warn(f"lineage: disabled for this run ({type(exc).__name__}: {exc})")
        return _Null()


# --- reading: the graph ------------------------------------------------------------------------


def read_events(ctx: Context) -> list[dict[str, Any]]:
    """Every recorded event of the environment's lake (file or S3), oldest first."""
    lake = ctx.lake_uri.rstrip("/")
    events: list[dict[str, Any]] = []
    if lake.startswith("s3://"):
        bucket, _, prefix = lake[len("s3://"):].partition("/")
        s3 = ctx.aws.client("s3")
        base = f"{prefix + '/' if prefix else ''}{LINEAGE_DIR}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for obj in page.get("Contents", []):
                events.append(json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
    else:
        for path in sorted((Path(lake) / LINEAGE_DIR).glob("*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue  # a torn last line
    return sorted(events, key=lambda e: e.get("eventTime", ""))


@dataclass
class JobRun:
    job: str
    state: str
    time: str
    inputs: list[str]
    outputs: list[str]
    message: str = ""


def latest_runs(events: list[dict[str, Any]], names: LakeNames) -> dict[str, JobRun]:
    """job name -> its latest run (state from the run's last event; datasets from its events)."""
    latest: dict[str, JobRun] = {}
    for e in events:
        job = e["job"]["name"]
        run = latest.get(job)
        ins = [names.display(d) for d in e.get("inputs", [])]
        outs = [names.display(d) for d in e.get("outputs", [])]
        message = e.get("run", {}).get("facets", {}).get("errorMessage", {}).get("message", "")
        if run is None or e["eventType"] == "START" or run.time <= e["eventTime"]:
            latest[job] = JobRun(job, e["eventType"], e["eventTime"], ins or (run.inputs if run else []),
                                 outs or (run.outputs if run else []), message)
    return latest


def tree(ctx: Context, dataset: str, upstream: bool = True, depth: int = 10) -> dict[str, Any]:
    """The lineage of `dataset` (`<layer>.<table>`) as a nested dict:
    {"dataset": d, "jobs": [{"job", "state", "time", "message", "datasets": [<same shape>]}]}.
    ConfigError (exit 2) when no recorded event names the dataset."""
    names = LakeNames(ctx.lake_uri)
    runs = latest_runs(read_events(ctx), names)
    if not any(dataset in r.inputs or dataset in r.outputs for r in runs.values()):
        known = sorted({d for r in runs.values() for d in (*r.inputs, *r.outputs)})
        raise ConfigError(f"no lineage recorded for '{dataset}'",
                          "run a pipeline first (`deplat run all`)" if not known
                          else f"datasets with lineage: {', '.join(known)}")

    expanded: set[str] = set()  # a job reached twice is drawn once, then marked "repeated"

    def node(ds: str, level: int, path: frozenset) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": ds, "jobs": []}
        if level >= depth or ds in path:
            out["truncated"] = level >= depth and ds not in path
            return out
        for run in sorted(runs.values(), key=lambda r: r.job):
            linked = ds in (run.outputs if upstream else run.inputs)
            if not linked:
                continue
            job: dict[str, Any] = {"job": run.job, "state": run.state, "time": run.time, "message": run.message,
                                   "datasets": []}
            if run.job in expanded:
                job["repeated"] = True
            else:
                expanded.add(run.job)
                nxt = run.inputs if upstream else run.outputs
                job["datasets"] = [node(d, level + 1, path | {ds}) for d in nxt]
            out["jobs"].append(job)
        return out

    return node(dataset, 0, frozenset())
