"""`deplat dq demo-failure` tells it in the order it happened: the bad commit, the check's FAILED
verdict, then the RESTORE; the service announces the restore itself only when the check did not
finish (delta-rs, no JVM: the check is replaced by a canned report)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
import yaml

from deplat.dq.service import DqReport, DqService

pytest.importorskip("deltalake")


class Recorder:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, message):
        self.lines.append(message)

    warn = info

    def status(self, message):
        import contextlib

        return contextlib.nullcontext(SimpleNamespace(update=lambda m: None))


def _ctx(tmp_path):
    root = tmp_path / "proj"
    (root / "dq" / "suites").mkdir(parents=True)
    (root / "dq" / "suites" / "silver_fx.yml").write_text(yaml.safe_dump({"table": "silver.fx", "expectations": [
        {"check": "between", "column": "rate", "min": 0, "strict_min": True}]}))
    return SimpleNamespace(root=root, lake_uri=str(tmp_path / "lake"),
                           env=SimpleNamespace(name="local", protected=False, region="us-east-1", endpoint_url=None),
                           reporter=Recorder(), outputs=lambda required=True: {})


@pytest.fixture
def ctx(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    ctx = _ctx(tmp_path)
    write_deltalake(f"{ctx.lake_uri}/silver/fx", pa.table({
        "ccy": ["USD", "JPY"], "rate": pa.array([Decimal("1.1"), Decimal("160.5")], pa.decimal128(24, 10))}))
    return ctx


FAILED = DqReport("local", "error", "b1", "lr-1", [{
    "suite": "silver_fx", "table": "silver.fx", "delta_version": 1, "rows": 3, "success": False,
    "results": [{"expectation": "between(rate)", "severity": "error", "success": False, "observed": "-1",
                 "unexpected_count": 1, "unexpected_percent": 33.3, "samples": [-1]}]}])


def test_output_order_bad_commit_then_failed_check_then_restore(ctx, monkeypatch, capsys):
    from deplat.cli.dq import render_demo

    monkeypatch.setattr(DqService, "check", lambda self, table, *a, **k: FAILED)
    result = DqService(ctx).demo_failure("silver.fx", yes=True)
    assert not any("restore" in line.lower() for line in ctx.reporter.lines)  # not before the verdict
    render_demo(result)
    out = capsys.readouterr().out
    first, check, failed, restore = (out.index("1. appended"), out.index("2. DQ check"), out.index("FAILED"),
                                     out.index("3. RESTORE"))
    assert first < check < failed < restore < out.index("after RESTORE") < out.index("content after == before: yes")
    assert "FAILED, as intended" in out


def test_an_unfinished_check_announces_the_restore(ctx, monkeypatch):
    def interrupted(self, table, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(DqService, "check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DqService(ctx).demo_failure("silver.fx", yes=True)
    assert any("did not finish" in line and "RESTORE to version 0" in line for line in ctx.reporter.lines)
