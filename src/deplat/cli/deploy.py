"""`deplat deploy`: Build and sync artifacts (wheel, jobs, config, DQ suites) to the artifacts bucket"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "deploy"


def command() -> None:
    """Build and sync artifacts (wheel, jobs, config, DQ suites) to the artifacts bucket (not built yet)."""
    not_built("deploy")
