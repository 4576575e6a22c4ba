"""`deplat report` renders in headless Chromium (Debian's `chromium`, installed by `make chromium`):
the DOM Chromium builds has the timeline, steps, failures, tables and DQ results; the screenshot
shows the Gantt bars in their state colours. A failed runbook over a small real Delta lake
(written with delta-rs, no JVM) is the input."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
DEPLAT = str(Path(sys.executable).with_name("deplat"))


def _chromium() -> str:
    found = shutil.which("chromium")
    assert found, "headless Chromium is missing: run `make chromium` (apt-get install chromium)"
    return found


def _runbook(home: Path) -> str:
    state = home / "local"
    state.mkdir(parents=True)
    rid = "20261129T150000Z-abc123"
    steps = [
        {"name": "deploy", "title": "deploy", "status": "ok", "started_at": "2026-11-29T15:00:00.000+00:00",
         "ended_at": "2026-11-29T15:00:04.000+00:00", "duration_s": 4.0, "rows_written": None, "dq": None,
         "figures": {}, "run_ids": [], "note": "3 files uploaded", "error": None, "error_detail": None,
         "exit_code": None},
        {"name": "fx", "title": "pipeline fx", "status": "ok", "started_at": "2026-11-29T15:00:04.000+00:00",
         "ended_at": "2026-11-29T15:00:40.000+00:00", "duration_s": 36.0, "rows_written": 222_654, "dq": None,
         "figures": {}, "run_ids": ["run-1", "run-2"], "note": "", "error": None, "error_detail": None,
         "exit_code": None},
        {"name": "gold", "title": "pipeline gold", "status": "failed",
         "started_at": "2026-11-29T15:00:40.000+00:00", "ended_at": "2026-11-29T15:01:10.000+00:00",
         "duration_s": 30.0, "rows_written": None, "dq": "fail",
         "figures": {}, "run_ids": ["run-3"], "note": "", "exit_code": 5,
         "error": "DQ gate failed: gold.daily_revenue <script>alert(1)</script>",
         "error_detail": "expect_column_values_to_not_be_null(order_id): 3 unexpected"},
        {"name": "query", "title": "sample query", "status": "pending", "started_at": None, "ended_at": None,
         "duration_s": None, "rows_written": None, "dq": None, "figures": {}, "run_ids": [], "note": "",
         "error": None, "error_detail": None, "exit_code": None},
    ]
    book = {"runbook_id": rid, "env": "local", "status": "failed", "exit_code": 5,
            "started_at": "2026-11-29T15:00:00.000+00:00", "ended_at": "2026-11-29T15:01:10.000+00:00",
            "duration_s": 70.0, "selection": [s["name"] for s in steps], "resumed_from": None, "steps": steps}
    (state / "runbook.json").write_text(json.dumps(book))
    runs = [("run-1", "fx", "fx_to_bronze", "SUCCESS", "15:00:05", "15:00:20"),
            ("run-2", "fx", "fx_bronze_to_silver", "SUCCESS", "15:00:21", "15:00:39"),
            ("run-3", "gold", "gold_aggregates", "FAILED", "15:00:41", "15:01:09")]
    with (state / "runs.jsonl").open("w") as fh:
        for rid_, pipe, step, st, t0, t1 in runs:
            fh.write(json.dumps({"run_id": rid_, "pipeline": pipe, "step": step, "state": st, "batch_id": "b1",
                                 "submitted_at": f"2026-11-29T{t0}+00:00", "ended_at": f"2026-11-29T{t1}+00:00",
                                 "duration_s": 15.0, "details": "exit 1" if st == "FAILED" else ""}) + "\n")
    return rid


def _lake(lake: Path) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(lake / "silver" / "fx_rates"), pa.table({"currency": ["USD", "GBP", "JPY"],
                                                                  "rate": [1.1, 0.85, 160.0]}))
    write_deltalake(str(lake / "silver" / "fx_rates"), pa.table({"currency": ["CHF"], "rate": [0.95]}),
                    mode="append")
    write_deltalake(str(lake / "gold" / "daily_revenue"), pa.table({"day": ["2026-11-28"], "revenue": [10.5]}))
    write_deltalake(str(lake / "gold" / "quality_results"), pa.table({
        "checked_at": ["2026-11-29T15:00:50", "2026-11-29T15:00:50"], "table": ["gold.daily_revenue"] * 2,
        "check": ["not_null(order_id)", "row_count > 0"], "severity": ["critical", "warning"],
        "status": ["fail", "pass"], "unexpected": [3, 0]}))


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGBA/RGB bytes) of an 8-bit non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[j * bpp:j * bpp + 3]) for j in range(width))
        rows[-1] = b"".join(rows[-1])
        prev = line
    return width, height, rows


def _count(rows: list[bytes], rgb: tuple[int, int, int], tol: int = 8) -> int:
    n = 0
    for row in rows:
        for j in range(0, len(row), 3):
            if all(abs(row[j + k] - rgb[k]) <= tol for k in range(3)):
                n += 1
    return n


@pytest.fixture(scope="module")
def report():
    # Not pytest's tmp_path: concurrent pytest sessions of the same user prune each other's basetemp.
    base = Path(tempfile.mkdtemp(prefix="deplat-report-test-"))
    try:
        yield _make_report(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _make_report(base: Path) -> dict:
    home, lake = base / "home", base / "lake"
    rid = _runbook(home)
    _lake(lake)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    env.update(DEPLAT_HOME=str(home), DEPLAT_LAKE_URI=str(lake))
    out = home / "report.html"
    proc = subprocess.run([DEPLAT, "-o", "json", "report", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {"path": out, "result": json.loads(proc.stdout), "id": rid, "dir": home}


def test_report_is_self_contained(report):
    page = report["path"].read_text()
    assert report["result"]["id"] == report["id"] and report["result"]["failures"] == 1
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "<script" not in page  # no JavaScript at all, and record text is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_chromium_dom_has_timeline_and_tables(report):
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          report["path"].as_uri()], capture_output=True, text=True, timeout=120).stdout
    gantt = re.search(r'<svg id="gantt".*?</svg>', dom, re.S).group(0)
    # 4 runbook steps, 3 with a start (pending query has none) + 3 job runs indented under them.
    assert gantt.count("<rect") == 6
    assert gantt.count('data-state="failed"') == 1 and gantt.count('data-state="FAILED"') == 1
    assert "fx/fx_bronze_to_silver" in gantt and "run run-3: FAILED" in gantt
    tables = re.search(r'<table id="tables">.*?</table>', dom, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", tables, re.S)[1:]
    cells = {(re.findall(r"<td[^>]*>(.*?)</td>", r)[1]): r for r in rows}
    assert set(cells) == {"fx_rates", "daily_revenue", "quality_results"}
    assert "</span>4</td>" in cells["fx_rates"] and "<td class=\"num\">1</td>" in cells["fx_rates"]  # 4 rows, v1
    layers = re.search(r'<table id="layers-table">.*?</table>', dom, re.S).group(0)
    assert re.search(r"<td>silver</td><td class=\"num\">1</td><td class=\"num\">4</td>", layers)
    assert re.search(r"<td>gold</td><td class=\"num\">2</td><td class=\"num\">3</td>", layers)
    dq = re.search(r'<table id="dq">.*?</table>', dom, re.S).group(0)
    assert "not_null(order_id)" in dq and "critical" in dq
    failures = re.search(r'<section id="failures">.*?</section>', dom, re.S).group(0)
    assert "step gold (exit 5)" in failures and "3 unexpected" in failures and "run run-3" in failures


def test_chromium_screenshot_shows_the_bars(report):
    shot = report["dir"] / "report.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1100,1400", report["path"].as_uri()],
                   capture_output=True, timeout=120, check=True)
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1100, 1400)
    green, red = _count(rows, (0x2E, 0x7D, 0x32)), _count(rows, (0xC6, 0x28, 0x28))
    assert green > 2000, green  # the SUCCESS/ok bars (and badges)
    assert red > 500, red  # the failed step, its failed job run and the status badge


def test_chromium_dom_of_a_resumed_runbook_keeps_the_failed_attempt(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="deplat-report-resumed-"))
    try:
        state = home / "local"
        state.mkdir(parents=True)

        def attempt(n, status, t0, t1, run_ids, exit_code=None, error=None, excerpt=None):
            return {"n": n, "status": status, "started_at": f"2026-11-29T{t0}.000+00:00",
                    "ended_at": f"2026-11-29T{t1}.000+00:00", "duration_s": 10.0, "exit_code": exit_code,
                    "error": error, "error_excerpt": excerpt, "run_ids": run_ids, "rows_written": None}

        tries = [attempt(1, "failed", "17:26:00", "17:26:10", ["lr-3c6a"], 4, "salesforce/salesforce_to_bronze FAILED",
                         "SalesforceResourceNotFound: Resource Account Not Found"),
                 attempt(2, "ok", "17:30:00", "17:30:10", ["lr-eef5"])]
        step = {"name": "salesforce", "title": "pipeline salesforce", "status": "ok",
                "started_at": tries[1]["started_at"], "ended_at": tries[1]["ended_at"], "duration_s": 10.0,
                "rows_written": 420, "dq": None, "figures": {},
                "run_ids": ["lr-eef5"], "note": "", "error": None, "error_detail": None, "exit_code": None,
                "attempts": tries}
        book = {"runbook_id": "20261129T172550Z-515419", "env": "local", "status": "ok", "exit_code": 0,
                "started_at": tries[0]["started_at"], "ended_at": tries[1]["ended_at"], "duration_s": 10.0,
                "selection": ["salesforce"], "resumed_from": "salesforce", "steps": [step]}
        (state / "runbook.json").write_text(json.dumps(book))
        with (state / "runs.jsonl").open("w") as fh:
            for rid, st, a in (("lr-3c6a", "FAILED", tries[0]), ("lr-eef5", "SUCCESS", tries[1])):
                fh.write(json.dumps({"run_id": rid, "pipeline": "salesforce", "step": "salesforce_to_bronze",
                                     "state": st, "batch_id": rid, "submitted_at": a["started_at"],
                                     "ended_at": a["ended_at"], "duration_s": 9.0, "details": ""}) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
        env.update(DEPLAT_HOME=str(home), DEPLAT_LAKE_URI=str(home / "no-lake"))
        out = home / "report.html"
        proc = subprocess.run([DEPLAT, "-o", "json", "report", "--out", str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["failures"] == 1  # its failed job run is detail
        dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              out.as_uri()], capture_output=True, text=True, timeout=120).stdout
        gantt = re.search(r'<svg id="gantt".*?</svg>', dom, re.S).group(0)
        bars = re.findall(r'<g class="bar" data-state="([^"]+)"><text[^>]*>([^<]+)</text>', gantt)
        assert bars == [("failed", "salesforce #1"), ("FAILED", "salesforce/salesforce_to_bronze"),
                        ("ok", "salesforce #2"), ("SUCCESS", "salesforce/salesforce_to_bronze")]
        failures = re.search(r'<section id="failures">.*?</section>', dom, re.S).group(0)
        assert "step salesforce, attempt 1 of 2 (exit 4), succeeded on attempt 2" in failures
        assert "Resource Account Not Found" in failures and "run lr-3c6a" in failures
    finally:
        shutil.rmtree(home, ignore_errors=True)
