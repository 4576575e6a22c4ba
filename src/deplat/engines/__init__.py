"""The job engine: EMR Serverless, in the cloud and in a local env (there against moto's EMR
Serverless stand-in, which `deplat local up` always starts). The CLI side has this one engine; the
stand-in's supervisor and warm drivers, which start spark-submit, live in
deplat.local.standins.emr_serverless. Which engine an environment gets, and the local stand-in
check, is deplat.runs.engine_for: this package never imports deplat.local."""

from __future__ import annotations

from deplat.engines.base import JobEngine, JobSpec, RunRef, RunState

__all__ = ["JobEngine", "JobSpec", "RunRef", "RunState"]
