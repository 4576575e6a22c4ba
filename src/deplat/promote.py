"""`deplat promote --from A --to B`: deploy to B exactly the manifest that last ran green in A.

"Green" is read from A's run history (`.deplat/<A>/runs.jsonl`): the newest whole run of the
pipeline (`deplat run all` by default: no --step, no --partition-date) must have every step SUCCESS,
every DQ gate's verdict passed and no gate skipped. Its manifest is copied object by object from A's
artifacts bucket (the content-addressed keys, byte for byte, S3 checking each body's MD5), never
rebuilt; then B's manifest history, current aliases and `artifacts/manifest.json` are written, and
a provenance record `artifacts/provenance/<manifest hash>.json` says where it came from (shown by
`deplat status`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from deplat.artifacts import PROVENANCE_PREFIX
from deplat_job.errors import ConfigError, SafetyError

_CHUNK = 8 * 1024 * 1024


@dataclass
class GreenRun:
    """The source's run that qualifies (or not) a manifest: its batch, manifest and step records."""

    batch_id: str
    manifest_hash: str
    invoked: str
    submitted_at: str
    steps: list[dict[str, Any]]


@dataclass
class PromoteResult:
    source_env: str
    target_env: str
    manifest_hash: str
    batch_id: str
    dry_run: bool
    previous_hash: str | None
    copied: list[dict[str, Any]] = field(default_factory=list)
    present: list[dict[str, Any]] = field(default_factory=list)
    promoted: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def copied_bytes(self) -> int:
        return sum(f["size"] for f in self.copied)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "copied_bytes": self.copied_bytes}


def last_run(records: list[dict[str, Any]], pipeline: str) -> GreenRun | None:
    """The newest whole run of `pipeline` in a run history (RunHistory.records()), or None."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("batch_id"):
            batches.setdefault(rec["batch_id"], []).append(rec)
    whole = []
    for batch_id, recs in batches.items():
        invoked = {r.get("invoked") for r in recs if r.get("invoked")}
        if invoked != {pipeline} or any(r.get("partition_date") for r in recs):
            continue
        hashes = {str(r["manifest_hash"]) for r in recs if r.get("manifest_hash")}
        submitted = min(r.get("submitted_at", "") for r in recs)
        whole.append(GreenRun(batch_id, next(iter(hashes)) if len(hashes) == 1 else "", pipeline, submitted,
                              sorted(recs, key=lambda r: r.get("submitted_at", ""))))
    return max(whole, key=lambda g: g.submitted_at, default=None)


def refusal(run: GreenRun, pipeline: str) -> str | None:
    """Why `run` is not green (a failed step, a failed or skipped gate, a step that never ran), or None."""
    from deplat.registry import resolve

    by_step = {(r.get("pipeline"), r.get("step")): r for r in run.steps}
    for pipe, step in resolve(pipeline):
        rec = by_step.get((pipe, step.name))
        if rec is None:
            return f"step {pipe}/{step.name} did not run (an earlier step stopped the run)"
        # `dq_skipped`: what history written before the rename to `gate_skipped` calls it.
        if rec.get("gate_skipped") or rec.get("dq_skipped") or rec.get("state") == "SKIPPED":
            return f"the DQ gate {pipe}/{step.name} was skipped (--skip-dq)"
        if rec.get("state") != "SUCCESS":
            return f"step {pipe}/{step.name} ended {rec.get('state')} (run {rec.get('run_id')})"
        if step.gate and rec.get("gate") != "passed":
            verdict = rec.get("gate") or "not recorded"
            return f"the DQ gate {pipe}/{step.name} on {', '.join(step.gate)}: {verdict} (run {rec.get('run_id')})"
    if not run.manifest_hash:
        return "its steps ran with different deployed manifests"
    return None


def promote(source: Any, target: Any, pipeline: str = "all", dry_run: bool = False,
            yes: bool = False) -> PromoteResult:
    """Promote from `source` to `target` (two Contexts). Refuses with SafetyError (exit 7) when the
    source's last whole run of `pipeline` was not green (naming the step or gate), and without `yes`
    (after computing the plan); ConfigError (exit 2) when source and target are the same environment
    or the source's manifest is no longer in its bucket. Returns what was (or would be) copied."""
    from deplat.artifacts import MANIFEST_HISTORY, MANIFEST_KEY, Manifest, existing_keys, s3_errors, write_aliases
    from deplat.registry import pipeline_names
    from deplat.runs import HISTORY_FILE, RunHistory

    if source.env.name == target.env.name:
        raise ConfigError(f"--from and --to are both '{source.env.name}'", "promote between two environments")
    if pipeline not in pipeline_names():
        raise ConfigError(f"unknown pipeline '{pipeline}'", f"choose one of: {', '.join(pipeline_names())}")
    run = last_run(RunHistory(source.state_dir / HISTORY_FILE).records(), pipeline)
    if run is None:
        raise SafetyError(f"'{source.env.name}' has no recorded `deplat run {pipeline}`: nothing ran green there",
                          f"run `deplat -e {source.env.name} run {pipeline}` and promote once it passes")
    why = refusal(run, pipeline)
    if why:
        raise SafetyError(f"refusing to promote manifest {run.manifest_hash[:12] or '?'} from "
                          f"'{source.env.name}': its last `deplat run {pipeline}` (batch {run.batch_id}) "
                          f"was not green: {why}",
                          f"fix it, deploy and run it green in '{source.env.name}', then promote")

    src_bucket, dst_bucket = source.output("artifacts_bucket"), target.output("artifacts_bucket")
    src_s3, dst_s3 = source.aws.client("s3"), target.aws.client("s3")
    history_key = f"{MANIFEST_HISTORY}{run.manifest_hash}.json"
    with s3_errors(source, src_bucket):
        try:
            body = src_s3.get_object(Bucket=src_bucket, Key=history_key)["Body"].read()
        except src_s3.exceptions.NoSuchKey:
            raise ConfigError(f"manifest {run.manifest_hash[:12]} is not in s3://{src_bucket}/{MANIFEST_HISTORY}",
                              "its objects cannot be copied; run a deployed manifest green and retry") from None
    manifest = Manifest.from_json(body.decode())
    if manifest.manifest_hash != run.manifest_hash:
        raise ConfigError(f"s3://{src_bucket}/{history_key} does not hash to its name", "redeploy the source")
    with s3_errors(target, dst_bucket):
        keys = existing_keys(dst_s3, dst_bucket)
        previous = _current_hash(dst_s3, dst_bucket)
    result = PromoteResult(source.env.name, target.env.name, run.manifest_hash, run.batch_id, dry_run, previous)
    for name, meta in sorted(manifest.files.items()):
        item = {"name": name, "key": meta["key"], "size": int(meta["size"])}
        (result.present if meta["key"] in keys else result.copied).append(item)
    result.provenance = {
        "manifest_hash": run.manifest_hash, "source_env": source.env.name, "source_bucket": src_bucket,
        "pipeline": pipeline, "batch_id": run.batch_id, "green_at": run.steps[-1].get("ended_at"),
        "runs": [{"step": f"{r.get('pipeline')}/{r.get('step')}", "run_id": r.get("run_id"),
                  "state": r.get("state"), **({"gate": r["gate"]} if r.get("gate") else {})} for r in run.steps],
        "git_sha": manifest.git_sha, "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if dry_run or previous == run.manifest_hash:
        return result
    if not yes:
        raise SafetyError(f"promoting replaces '{target.env.name}''s deployed manifest "
                          f"{(previous or 'none')[:12]} with {run.manifest_hash[:12]}; nothing was changed",
                          "review with --dry-run, then rerun with --yes")
    with s3_errors(target, dst_bucket):
        for item in result.copied:
            _copy(src_s3, src_bucket, dst_s3, dst_bucket, item["key"])
        write_aliases(dst_s3, dst_bucket, manifest)
        dst_s3.put_object(Bucket=dst_bucket, Key=f"{PROVENANCE_PREFIX}{run.manifest_hash}.json",
                          Body=json.dumps(result.provenance, indent=2).encode(), ContentType="application/json")
        dst_s3.put_object(Bucket=dst_bucket, Key=history_key, Body=body, ContentType="application/json")
        dst_s3.put_object(Bucket=dst_bucket, Key=MANIFEST_KEY, Body=body, ContentType="application/json",
                          Metadata={"manifest-hash": run.manifest_hash, "promoted-from": source.env.name})
    result.promoted = True
    return result


def _current_hash(s3: Any, bucket: str) -> str | None:
    from deplat.artifacts import load_manifest

    manifest = load_manifest(s3, bucket)
    return manifest.manifest_hash if manifest else None


def _copy(src: Any, src_bucket: str, dst: Any, dst_bucket: str, key: str) -> None:
    """One object, byte for byte, with its metadata; the body is streamed through a temporary file
    (the two environments may be two accounts: no server-side copy between them) and sent with its
    MD5, so S3 rejects a body that changed on the way."""
    obj = src.get_object(Bucket=src_bucket, Key=key)
    md5 = hashlib.md5(usedforsecurity=False)
    with tempfile.TemporaryFile() as tmp:
        for chunk in iter(lambda: obj["Body"].read(_CHUNK), b""):
            md5.update(chunk)
            tmp.write(chunk)
        tmp.seek(0)
        dst.put_object(Bucket=dst_bucket, Key=key, Body=tmp, ContentMD5=base64.b64encode(md5.digest()).decode(),
                       Metadata=obj.get("Metadata", {}), ContentType=obj.get("ContentType", "binary/octet-stream"))

