"""One scripted emr-serverless client for the unit tier: the engine's tests and the on-call commands'.

It answers as the API does (boto3's emr-serverless client, the shapes of StartJobRun, GetJobRun,
ListJobRuns, CancelJobRun, GetApplication, GetDashboardForJobRun), with states in the order a test
scripts them: moto cannot produce a FAILED, HIBERNATING or CANCELLING run on demand.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


class FakeEmrServerless:
    """runs: id -> {state, tags, name, token, fields}; script: id -> the states GetJobRun returns next,
    in turn (then the run keeps the last). start_errors / get_errors: exceptions raised by the next
    StartJobRun / GetJobRun calls; with start_creates_before_error the failed StartJobRun still creates
    the run (the response was lost, not the request). calls: (operation, arguments) in order."""

    def __init__(self, app_states=("STARTED",), dashboard: bool = True):
        self.app_states = list(app_states)
        self.dashboard = dashboard
        self.runs: dict[str, dict] = {}
        self.script: dict[str, list[str]] = {}
        self.calls: list[tuple[str, dict]] = []
        self.start_errors: list[Exception] = []
        self.start_creates_before_error = False
        self.get_errors: list[Exception] = []

    def _log(self, op, **kw):
        self.calls.append((op, kw))

    def ops(self, name: str) -> list[dict]:
        return [kw for op, kw in self.calls if op == name]

    @property
    def cancelled(self) -> list[str]:
        return [kw["jobRunId"] for kw in self.ops("cancel_job_run")]

    def add(self, run_id: str, *states: str, **fields) -> None:
        """A run that exists already (started by another process): GetJobRun returns `states` in turn
        and `fields` (createdAt, stateDetails, ...) with each."""
        self.runs[run_id] = {"state": states[0], "tags": {}, "name": run_id, "token": None, "fields": fields}
        self.script[run_id] = list(states)

    def get_application(self, applicationId):
        self._log("get_application")
        state = self.app_states.pop(0) if len(self.app_states) > 1 else self.app_states[0]
        return {"application": {"applicationId": applicationId, "name": "deplat", "state": state,
                                "releaseLabel": "emr-7.2.0"}}

    def start_application(self, applicationId):
        self._log("start_application")
        return {}

    def _create(self, kw):
        run_id = f"run{len(self.runs) + 1}"
        self.runs[run_id] = {"state": "SUBMITTED", "tags": kw["tags"], "name": kw["name"],
                             "token": kw["clientToken"], "fields": {}}
        return run_id

    def start_job_run(self, **kw):
        self._log("start_job_run", **kw)
        if self.start_errors:
            err = self.start_errors.pop(0)
            if self.start_creates_before_error:
                self._create(kw)  # the request went through; only the response was lost
            raise err
        # AWS semantics: the same clientToken returns the same run.
        for run_id, run in self.runs.items():
            if run["token"] == kw["clientToken"]:
                return {"applicationId": kw["applicationId"], "jobRunId": run_id, "arn": "arn"}
        return {"applicationId": kw["applicationId"], "jobRunId": self._create(kw), "arn": "arn"}

    def list_job_runs(self, applicationId, states, createdAtAfter=None, nextToken=None):
        self._log("list_job_runs", states=states)
        return {"jobRuns": [{"id": i, "name": r["name"], "state": r["state"]}
                            for i, r in self.runs.items() if r["state"] in states]}

    def get_job_run(self, applicationId, jobRunId):
        self._log("get_job_run", jobRunId=jobRunId)
        if self.get_errors:
            raise self.get_errors.pop(0)
        if jobRunId not in self.runs:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException",
                                         "Message": f"Job run {jobRunId} does not exist"},
                               "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetJobRun")
        run = self.runs[jobRunId]
        if self.script.get(jobRunId):
            run["state"] = self.script[jobRunId].pop(0)
        return {"jobRun": {"jobRunId": jobRunId, "applicationId": applicationId, "state": run["state"],
                           "tags": run["tags"],
                           "stateDetails": "Job failed: boom" if run["state"] == "FAILED" else "",
                           **run["fields"]}}

    def cancel_job_run(self, applicationId, jobRunId):
        """A live run goes CANCELLING, then CANCELLED."""
        self._log("cancel_job_run", jobRunId=jobRunId)
        self.runs[jobRunId]["state"] = "CANCELLING"
        self.script[jobRunId] = ["CANCELLING", "CANCELLED"]
        return {}

    def get_dashboard_for_job_run(self, applicationId, jobRunId):
        return {"url": f"https://ui.example/{jobRunId}" if self.dashboard else None}
