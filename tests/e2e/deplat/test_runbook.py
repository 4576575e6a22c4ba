"""`deplat runbook` end to end on the local env, twice, into a fresh lake: every step succeeds, and the
second runbook changes no row count anywhere (every Delta table counted before and after). Then
`deplat report` renders that runbook. The two runbooks are conftest's `runbook_twice` (shared with
test_runbook_run_all): ~4-6 min on 2 cores, the second bringing no new source data.
"""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.terraform]


@pytest.fixture(scope="module")
def runs(runbook_twice):
    return runbook_twice


def test_every_step_succeeds(runs):
    for doc in (runs["first"], runs["second"]):
        assert doc["status"] == "ok", [(s["name"], s["status"], s["error"] or s["note"]) for s in doc["steps"]]
        assert {s["status"] for s in doc["steps"] if s["name"] != "optimize"} == {"ok"}
    gold = next(s for s in runs["first"]["steps"] if s["name"] == "gold")
    assert gold["dq"] and gold["dq"].split()[0] in ("pass", "warn")  # the gate ran and let gold through


def test_second_runbook_changes_no_row_count_anywhere(runs):
    before, after = dict(runs["before"]), dict(runs["after"])  # copies: the fixture is shared by later tests
    assert len(before) >= 10 and all(n is not None for n in before.values()), before
    assert {k for k, n in before.items() if n} >= {"silver.fx_rates", "silver.orders"}
    # gold.quality_results is the DQ gate's append-only history: each gate run adds its own result rows
    # (the same checks each time). Every other table must be exactly as before.
    dq = "gold.quality_results"
    assert after.pop(dq) == 2 * before.pop(dq)
    assert after == before


def test_second_runbook_brings_no_new_source_data(runs):
    steps = {s["name"]: s for s in runs["second"]["steps"]}
    assert steps["dms-capture"]["rows_written"] == 0
    assert steps["kafka-produce"]["rows_written"] == 0


def test_report_of_the_runbook(runs):
    rep = runs["report"]
    assert rep["kind"] == "runbook" and rep["id"] == runs["second"]["runbook_id"]
    assert rep["failures"] == 0 and rep["tables"] == len(runs["after"])


def test_the_runbook_keeps_its_state_in_its_own_home_and_shares_the_running_stack(runs):
    state = runs["home"] / "local"
    books = (state / "runbooks.jsonl").read_text().splitlines()
    assert [json.loads(b)["runbook_id"] for b in books] == [runs["first"]["runbook_id"], runs["second"]["runbook_id"]]
    assert json.loads((state / "runbook.json").read_text())["runbook_id"] == runs["second"]["runbook_id"]
    assert (state / "runs.jsonl").is_file() and (state / "outputs.json").is_file()
    before, after = runs["developer_state"]
    assert after == before  # the developer's own runbook, run history and outputs, untouched
    # One Terraform state for the stack, in its folder: the second runbook's apply changes nothing.
    assert (runs["stack"] / "infra" / "local" / "terraform.tfstate").is_file()
    infra = next(s for s in runs["second"]["steps"] if s["name"] == "infra")
    assert (infra["figures"]["add"], infra["figures"]["change"], infra["figures"]["destroy"]) == (0, 0, 0)
    assert infra["note"] == "no changes"
