"""Which run qualifies a manifest for `deplat promote`: the newest whole run of the pipeline, green only
if every step is SUCCESS, every gate's verdict passed and no gate was skipped."""

from __future__ import annotations

from deplat.promote import last_run, refusal
from deplat.registry import GOLD_INPUTS
from deplat.runs import RunHistory


def _batch(history, batch, manifest, states, at, invoked="gold", gate="passed", **extra):
    steps = [("gold", "orders_silver"), ("gold", "dq_check"), ("gold", "gold_aggregates")]
    for i, ((pipe, step), state) in enumerate(zip(steps, states)):
        rec = {"run_id": f"{batch}-{i}", "pipeline": pipe, "step": step, "state": state, "batch_id": batch,
               "manifest_hash": manifest, "invoked": invoked, "submitted_at": f"{at}:0{i}", **extra}
        if step == "dq_check" and gate:
            rec["gate"] = gate
        history.append(rec)


def test_the_newest_whole_run_decides(tmp_path):
    history = RunHistory(tmp_path / "runs.jsonl")
    _batch(history, "b1", "m1", ["SUCCESS"] * 3, "2026-12-01T10:00")
    _batch(history, "b2", "m2", ["SUCCESS", "SUCCESS"], "2026-12-02T10:00", gate="failed")
    _batch(history, "b3", "m3", ["SUCCESS"], "2026-12-03T10:00", invoked="gold --step orders_silver")
    _batch(history, "b4", "m4", ["SUCCESS"] * 3, "2026-12-04T10:00", partition_date="2026-12-01")
    run = last_run(history.records(), "gold")
    assert (run.batch_id, run.manifest_hash) == ("b2", "m2")  # a --step run and a date rerun are not whole runs
    assert refusal(run, "gold") == f"the DQ gate gold/dq_check on {', '.join(GOLD_INPUTS)}: failed (run b2-1)"

    _batch(history, "b5", "m5", ["SUCCESS"] * 3, "2026-12-05T10:00")
    run = last_run(history.records(), "gold")
    assert run.batch_id == "b5" and refusal(run, "gold") is None


def test_a_failed_step_a_missing_verdict_and_a_skipped_gate_are_named(tmp_path):
    history = RunHistory(tmp_path / "runs.jsonl")
    _batch(history, "b1", "m1", ["FAILED"], "2026-12-01T10:00")
    assert refusal(last_run(history.records(), "gold"), "gold") == "step gold/orders_silver ended FAILED (run b1-0)"
    _batch(history, "b2", "m1", ["SUCCESS"] * 3, "2026-12-02T10:00", gate=None)
    assert "gold/dq_check" in refusal(last_run(history.records(), "gold"), "gold")
    assert "not recorded" in refusal(last_run(history.records(), "gold"), "gold")
    _batch(history, "b3", "m1", ["SUCCESS", "SKIPPED", "SUCCESS"], "2026-12-03T10:00", gate=None)
    assert "skipped (--skip-dq)" in refusal(last_run(history.records(), "gold"), "gold")
    # Every step SUCCESS with a verdict recorded, but the run was made with gates skipped.
    _batch(history, "b3b", "m1", ["SUCCESS"] * 3, "2026-12-03T11:00", gate_skipped=True)
    assert "skipped (--skip-dq)" in refusal(last_run(history.records(), "gold"), "gold")
    # History written before the key was renamed says dq_skipped.
    _batch(history, "b4", "m1", ["SUCCESS"] * 3, "2026-12-04T09:00", dq_skipped=True)
    assert "skipped (--skip-dq)" in refusal(last_run(history.records(), "gold"), "gold")
    assert last_run(history.records(), "fx") is None
