"""The EMR Serverless clientToken over a scripted client that honours tokens the way AWS does:
the same token within 8 hours returns the run it first started (StartJobRun API reference,
`clientToken`: "The client idempotency token of the job run to start"; honoured for 8 h).

A deliberate rerun must always start a new run; retries of one submission must never start two.
"""

from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from deplat.engines.base import JobSpec
from deplat.engines.emr_serverless import EmrServerlessEngine

APP = "00fabc123"
KEY = "f" * 64
SPEC = JobSpec("fx", "fx_to_bronze", "s3://art/a/fx_to_bronze.py", ("--batch-id", "b1"),
               ("s3://art/a/deplat-jobs.zip",))
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


def throttled():
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, "StartJobRun")


class TokenHonouringEmr:
    """start_job_run returns the existing run for a token seen in the last 8 h; a run created by a
    call whose response was lost (throttled) only shows in list_job_runs `list_lag` calls later."""

    TTL = timedelta(hours=8)

    def __init__(self, clock):
        self.clock = clock
        self.runs = {}  # id -> {state, name, tags, token, created}
        self.started = []  # ids of runs actually created
        self.throttle_after_create = 0  # next N start calls: create (or find) the run, then raise
        self.list_lag = 0

    def get_application(self, applicationId):
        return {"application": {"applicationId": APP, "name": "deplat", "state": "STARTED"}}

    def start_job_run(self, **kw):
        now = self.clock()
        run_id = next((i for i, r in self.runs.items()
                       if r["token"] == kw["clientToken"] and now - r["created"] < self.TTL), None)
        if run_id is None:
            run_id = f"run{len(self.runs) + 1}"
            self.runs[run_id] = {"state": "SUBMITTED", "name": kw["name"], "tags": kw["tags"],
                                 "token": kw["clientToken"], "created": now, "listed_after": self.list_lag}
            self.started.append(run_id)
        if self.throttle_after_create:
            self.throttle_after_create -= 1
            raise throttled()
        return {"applicationId": APP, "jobRunId": run_id, "arn": "arn"}

    def list_job_runs(self, applicationId, states, createdAtAfter=None, nextToken=None):
        out = []
        for run_id, run in self.runs.items():
            if run["listed_after"] > 0:
                run["listed_after"] -= 1
                continue
            if run["state"] in states and (createdAtAfter is None or run["created"] > createdAtAfter):
                out.append({"id": run_id, "name": run["name"], "state": run["state"]})
        return {"jobRuns": out}

    def get_job_run(self, applicationId, jobRunId):
        run = self.runs[jobRunId]
        return {"jobRun": {"jobRunId": jobRunId, "state": run["state"], "tags": run["tags"]}}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def make(fake, clock):
    return EmrServerlessEngine(fake, APP, "arn:aws:iam::1:role/job", "art", sleep=lambda s: None,
                               clock=lambda: 0.0)


def test_fail_fail_then_rerun_after_ten_hours_starts_a_new_run_each_time():
    clock = Clock()
    fake = TokenHonouringEmr(clock)
    first = make(fake, clock).submit(SPEC, KEY)
    fake.runs[first.run_id]["state"] = "FAILED"
    clock.now = T0 + timedelta(hours=5)
    second = make(fake, clock).submit(SPEC, KEY)
    fake.runs[second.run_id]["state"] = "FAILED"
    clock.now = T0 + timedelta(hours=10)  # the first run has left the 8 h window, the second has not
    third = make(fake, clock).submit(SPEC, KEY)
    assert fake.started == ["run1", "run2", "run3"]
    assert len({first.run_id, second.run_id, third.run_id}) == 3
    assert not any(r.attached for r in (first, second, third))


def test_throttled_submit_retried_three_times_starts_one_run():
    clock = Clock()
    fake = TokenHonouringEmr(clock)
    fake.throttle_after_create = 3
    fake.list_lag = 10  # the lost run is not listed yet: only the token can keep the retries idempotent
    ref = make(fake, clock).submit(SPEC, KEY)
    assert fake.started == ["run1"] and ref.run_id == "run1"


def test_tokens_fit_the_api_pattern_and_differ_per_submission():
    import re

    clock = Clock()
    fake = TokenHonouringEmr(clock)
    eng = make(fake, clock)
    eng.submit(SPEC, KEY)
    fake.runs["run1"]["state"] = "SUCCESS"
    eng.submit(SPEC, KEY)
    tokens = [r["token"] for r in fake.runs.values()]
    assert tokens[0] != tokens[1]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]{1,64}", t) for t in tokens)  # StartJobRun's constraint
