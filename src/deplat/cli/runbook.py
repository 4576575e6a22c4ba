"""`deplat runbook`: Run the whole runbook: infra, deploy, pipelines, quality, catalog"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "runbook"


def command() -> None:
    """Run the whole runbook: infra, deploy, pipelines, quality, catalog (not built yet)."""
    not_built("runbook")
