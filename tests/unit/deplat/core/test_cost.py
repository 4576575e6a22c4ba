"""Cost per run: EMR Serverless's billedResourceUtilization priced per region, shown by run,
status and report."""

from pathlib import Path

from deplat.core.config import load_settings
from deplat.core.cost import DEFAULT_PRICES, PRICING_SOURCE, cost_cell, prices_for, run_cost
from deplat.engines.base import RunState
from deplat.report.data import ReportData, StepRow, _from_batch
from deplat.report.html import render

ROOT = Path(__file__).resolve().parents[4]
BILLED = {"vCPUHour": 0.066667, "memoryGBHour": 0.266667, "storageGBHour": 0.0}  # 4 vCPU/16 GB, 60 s


def test_a_run_is_priced_from_its_billed_utilization_at_the_region_price():
    cost = run_cost(BILLED, DEFAULT_PRICES["us-east-1"])
    assert cost["vcpu_hours"] == 0.066667 and cost["memory_gb_hours"] == 0.266667
    # 0.066667 * 0.052624 + 0.266667 * 0.0057785 = 0.003508 + 0.001541
    assert cost["price_usd"] == round(0.066667 * 0.052624 + 0.266667 * 0.0057785, 6) == 0.005049
    assert run_cost(None, DEFAULT_PRICES["us-east-1"]) is None
    assert run_cost(BILLED, None)["price_usd"] is None  # a region without prices: hours, no price
    assert cost_cell(cost).startswith("$0.0050 (0.067 vCPU-h, 0.267 GB-h")


def test_prices_come_from_config_per_region_with_their_source(tmp_path):
    settings = load_settings(ROOT / "config" / "deplat.yaml", environ={})
    assert settings.emr_pricing.source == PRICING_SOURCE
    assert prices_for(settings, "eu-west-1")["storage_gb_hour"] == 0.000122
    assert prices_for(settings, "xx-nowhere-1") is None
    cfg = tmp_path / "deplat.yaml"
    cfg.write_text("environments:\n  local: {kind: local, endpoint_url: 'http://127.0.0.1:5050'}\n"
                   "emr_pricing:\n  regions:\n    us-east-1: {vcpu_hour: 1, memory_gb_hour: 0, storage_gb_hour: 0}\n")
    assert run_cost(BILLED, prices_for(load_settings(cfg, environ={}), "us-east-1"))["price_usd"] == 0.066667


def test_run_and_status_record_the_cost_the_engine_reports(tmp_path, monkeypatch):
    from tests.unit.deplat.test_runs import ScriptedEngine, service

    class Billed(ScriptedEngine):
        def get(self, run):
            state = super().get(run)
            extra = {"billedResourceUtilization": BILLED} if state.terminal else {}
            return RunState(state.state, state.details, extra=extra)

    svc = service(tmp_path, monkeypatch, Billed())
    svc.ctx.env.region = "us-east-1"
    result = svc.run("fx")
    assert [s.cost["price_usd"] for s in result.steps] == [0.005049, 0.005049]
    assert {r["run_id"]: r["cost"]["vcpu_hours"] for r in svc.status().runs} == {"r1": 0.066667, "r2": 0.066667}


def test_the_report_shows_each_step_s_cost_and_the_total():
    cost = run_cost(BILLED, DEFAULT_PRICES["us-east-1"])
    recs = [{"run_id": f"r{i}", "pipeline": "fx", "step": f"s{i}", "state": "SUCCESS", "cost": cost,
             "submitted_at": f"2026-12-03T10:00:0{i}+00:00"} for i in (1, 2)]
    data = _from_batch("local", "b1", recs)
    assert data.cost["price_usd"] == 0.010098 and data.to_dict()["cost"]["vcpu_hours"] == 0.133334
    data.generated_at = "2026-12-03T10:05:00+00:00"
    page = render(data)
    assert 'id="cost">billed: $0.0101 (0.133 vCPU-h' in page and page.count("$0.0050 (0.067 vCPU-h") == 2
    plain = ReportData("run", "b2", "local", "ok", None, None, "2026-12-03T10:05:00+00:00", "",
                       steps=[StepRow("fx/s", "SUCCESS", 1.0, None, None, "")])
    assert plain.cost is None and 'id="cost"' not in render(plain)
