"""Values from data print literally (issue 25, item 1): Rich markup, links and emoji codes in a cell,
a DLQ record, a reporter message or a table title are shown as typed, never interpreted. Real Delta
tables (delta-rs) in a temp lake, read by the commands themselves."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from deplat.cli import app

ROOT = Path(__file__).resolve().parents[4]
NASTY = ["[/]", "[link=https://example.com]x[/link]", ":x:", "[bold]b[/bold]", "[red]"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=200)


def _assert_literal(text: str) -> None:
    for value in NASTY:
        assert value in text, f"{value!r} not shown literally in:\n{text}"
    assert "❌" not in text and "\x1b]8;" not in text  # no emoji, no terminal hyperlink


def test_dlq_shows_malformed_events_as_they_came(lake):
    from deltalake import write_deltalake

    from deplat_job.pipelines.streaming import errors_path

    n = len(NASTY)
    write_deltalake(errors_path(str(lake)), pa.table({
        "reason": NASTY, "topic": ["orders"] * n, "partition": list(range(n)), "offset": list(range(n)),
        "timestamp": pa.array([1_700_000_000_000_000 + i for i in range(n)], pa.timestamp("us", "UTC")),
        "key": NASTY, "raw_value": NASTY}))
    result = cli("kafka", "dlq")
    assert result.exit_code == 0, result.output
    _assert_literal(result.stdout)


def test_query_cells_and_column_names_print_literally(lake):
    from deltalake import write_deltalake

    write_deltalake(str(lake / "silver" / "odd"), pa.table({"v": NASTY}))
    result = cli("query", "SELECT v, v AS \"[/]\" FROM silver.odd")
    assert result.exit_code == 0, result.output
    _assert_literal(result.stdout)


def test_shared_table_title_and_cells_are_literal(capsys):
    from deplat.cli._common import table

    table("title [/] :x:", ["[/]"], [[v] for v in NASTY])
    out = capsys.readouterr().out
    _assert_literal(out)
    assert "title [/] :x:" in out


def test_reporter_messages_are_literal(capsys):
    from deplat.core.console import RichReporter

    reporter = RichReporter()
    for v in NASTY:
        reporter.info(f"value {v}")
        reporter.warn(f"value {v}")
    err = capsys.readouterr().err
    _assert_literal(err)
    assert "warning:" in err


def test_a_styled_cell_keeps_its_style_and_shows_no_markup(capsys):
    from deplat.cli._common import table
    from deplat.core.console import literal

    table("checks", ["check", "result"], [["python", literal("pass", "green")], ["[red]", literal("FAIL", "red")]])
    out = capsys.readouterr().out
    assert "pass" in out and "FAIL" in out and "[green]" not in out and "[red]" in out
