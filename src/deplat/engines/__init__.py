"""Job engines: EMR Serverless in the cloud, local Spark for the local environment (same contract)."""

from __future__ import annotations

from typing import Any

from deplat.engines.base import JobEngine, JobSpec, RunRef, RunState

__all__ = ["JobEngine", "JobSpec", "RunRef", "RunState", "engine_for"]


def engine_for(ctx: Any) -> JobEngine:
    """The engine of ctx's environment: local Spark for `kind: local`, EMR Serverless otherwise."""
    if ctx.env.is_local:
        from deplat.engines.local_spark import LocalSparkEngine

        return LocalSparkEngine.from_context(ctx)
    from deplat.engines.emr_serverless import EmrServerlessEngine

    return EmrServerlessEngine.from_context(ctx)
