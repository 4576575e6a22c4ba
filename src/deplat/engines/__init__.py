"""The job engine: EMR Serverless, in the cloud and in a local env (there against moto's EMR
Serverless stand-in, which `deplat local up` always starts). The CLI side has this one engine; the
stand-in's supervisor and warm drivers, which start spark-submit, live in
deplat.local.emr_serverless_standin."""

from __future__ import annotations

from typing import Any

from deplat.engines.base import JobEngine, JobSpec, RunRef, RunState

__all__ = ["JobEngine", "JobSpec", "RunRef", "RunState", "engine_for"]


def engine_for(ctx: Any) -> JobEngine:
    """The engine of ctx's environment (`Environment.job_engine`): EMR Serverless (in a local env
    against moto's EMR Serverless stand-in: EndpointUnreachableError when moto is down, ConfigError
    when it runs without the stand-in, whose plain EMR Serverless would report every run SUCCESS
    without running it)."""
    from deplat.engines.emr_serverless import EmrServerlessEngine

    if not ctx.env.is_local:
        return EmrServerlessEngine.from_context(ctx)
    from deplat.engines.base import PollPolicy
    from deplat.errors import ConfigError, EndpointUnreachableError
    from deplat.local.emr_serverless_standin import serving

    if not serving(ctx.env.endpoint_url or ""):
        from urllib.parse import urlparse

        from deplat.local.services import port_open

        if not port_open(urlparse(ctx.env.endpoint_url or "").port or 0):
            raise EndpointUnreachableError(f"the local moto server at {ctx.env.endpoint_url} is not answering",
                                           "run `deplat local up`")
        raise ConfigError(
            f"environment '{ctx.env.name}' runs jobs on EMR Serverless, but the moto server at "
            f"{ctx.env.endpoint_url} runs without the EMR Serverless stand-in",
            "restart moto with it: `deplat local down moto && deplat local up` (moto's state is "
            "in memory: then `deplat infra apply` and `deplat deploy`)")
    engine = EmrServerlessEngine.from_context(ctx)
    # A local run's states change fast and GetJobRun on loopback is cheap: at most 1 s behind its end.
    engine.poll_policy = PollPolicy(initial=0.5, factor=1.5, maximum=1.0)
    engine.late_log_seconds = 0.0  # the stand-in has delivered every log line once the end state shows
    return engine
