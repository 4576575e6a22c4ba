"""EmrServerlessEngine over a fake emr-serverless client (scripted states, throttling) and botocore's
Stubber (response shapes checked against the real service model). No real sleeps."""

from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from deplat.engines.base import JobSpec, PollPolicy, RunRef, UnknownRunStateError
from deplat.engines.emr_serverless import KEY_TAG, EmrServerlessEngine, is_transient
from deplat.engines.poll import Poller
from deplat_job.errors import ConfigError
from tests.unit.emr_api import FakeEmrServerless

APP = "00fabc123"
ROLE = "arn:aws:iam::123456789012:role/deplat-job"
KEY = "k" * 64
SPEC = JobSpec("fx", "fx_to_bronze", "s3://art/artifacts/aa/fx_to_bronze.py",
               ("--lake", "s3://lake", "--batch-id", "b1", "--env", "dev"),
               ("s3://art/artifacts/bb/deplat-0.1.0-py3-none-any.whl",),
               ("s3://art/artifacts/cc/deplat-deps.tar.gz",))


def client_error(code, op, status=400):
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def engine(client, sleeps=None, **kw):
    return EmrServerlessEngine(client, APP, ROLE, "art", sleep=sleeps if sleeps is not None else Sleeps(),
                               clock=lambda: 0.0, **kw)


def poll(eng, ref, sleeps):
    return Poller(lambda: eng.get(ref), policy=PollPolicy(1, 2, 8), clock=lambda: 0.0, sleep=sleeps).wait()


def test_submit_builds_an_emr_job_run_with_key_tag_code_and_log_locations():
    fake = FakeEmrServerless()
    ref = engine(fake, log_group="/deplat/dev/emr").submit(SPEC, KEY)
    (params,) = fake.ops("start_job_run")
    assert ref.run_id == "run1" and ref.key == KEY and not ref.attached
    assert params["tags"] == {KEY_TAG: KEY, "deplat:pipeline": "fx", "deplat:step": "fx_to_bronze"}
    assert len(params["clientToken"]) <= 64 and params["executionRoleArn"] == ROLE
    driver = params["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == SPEC.entry_point
    assert driver["entryPointArguments"] == list(SPEC.args)
    submit = driver["sparkSubmitParameters"]
    assert "--py-files s3://art/artifacts/bb/deplat-0.1.0-py3-none-any.whl," in submit
    assert "spark.archives=s3://art/artifacts/cc/deplat-deps.tar.gz#deps" in submit
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in submit
    monitoring = params["configurationOverrides"]["monitoringConfiguration"]
    assert monitoring["s3MonitoringConfiguration"]["logUri"] == "s3://art/logs/"
    assert monitoring["cloudWatchLoggingConfiguration"]["logGroupName"] == "/deplat/dev/emr"
    assert ref.log_group == "/deplat/dev/emr" and ref.log_uri == "s3://art/logs/"
    assert params["mode"] == "BATCH"


def test_a_stream_is_submitted_in_emrs_streaming_job_mode():
    fake = FakeEmrServerless()
    engine(fake).submit(replace(SPEC, pipeline="kafka", step="kafka_orders_stream", streaming=True), KEY)
    (params,) = fake.ops("start_job_run")
    assert params["mode"] == "STREAMING"  # JobRunMode: BATCH | STREAMING (emr-7.1.0 and later)


def test_scripted_states_to_success_with_dashboard_link_and_no_real_sleep():
    fake, sleeps = FakeEmrServerless(), Sleeps()
    eng = engine(fake, sleeps)
    ref = eng.submit(SPEC, KEY)
    fake.script[ref.run_id] = ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "RUNNING", "SUCCESS"]
    final = poll(eng, ref, sleeps)
    assert final.state == "SUCCESS"
    assert final.dashboard_url == f"https://ui.example/{ref.run_id}"
    assert sleeps == [1, 1, 1, 1, 2]


@pytest.mark.parametrize("terminal", ["FAILED", "CANCELLED"])
def test_scripted_states_to_failed_or_cancelled(terminal):
    fake, sleeps = FakeEmrServerless(), Sleeps()
    eng = engine(fake, sleeps)
    ref = eng.submit(SPEC, KEY)
    fake.script[ref.run_id] = ["PENDING", "RUNNING", terminal]
    final = poll(eng, ref, sleeps)
    assert final.state == terminal and not final.succeeded
    if terminal == "FAILED":
        assert final.details == "Job failed: boom"


def test_unknown_state_stops_the_wait_with_an_error():
    fake, sleeps = FakeEmrServerless(), Sleeps()
    eng = engine(fake, sleeps)
    ref = eng.submit(SPEC, KEY)
    fake.script[ref.run_id] = ["PENDING", "HIBERNATING", "SUCCESS"]
    with pytest.raises(UnknownRunStateError, match="HIBERNATING"):
        poll(eng, ref, sleeps)


def test_throttled_get_job_run_is_retried_with_bounded_backoff():
    fake, sleeps = FakeEmrServerless(), Sleeps()
    eng = engine(fake, sleeps)
    ref = eng.submit(SPEC, KEY)
    fake.get_errors = [client_error("ThrottlingException", "GetJobRun"),
                       client_error("InternalServerException", "GetJobRun", 500)]
    fake.script[ref.run_id] = ["SUCCESS"]
    assert eng.get(ref).state == "SUCCESS"
    assert sleeps == [1.0, 2.0]


def test_persistent_throttling_gives_up_after_max_attempts():
    fake, sleeps = FakeEmrServerless(), Sleeps()
    eng = engine(fake, sleeps, max_attempts=3)
    ref = eng.submit(SPEC, KEY)
    fake.get_errors = [client_error("ThrottlingException", "GetJobRun")] * 5
    with pytest.raises(Exception, match="ThrottlingException"):
        eng.get(ref)
    assert len(sleeps) == 2 and all(s <= 20 for s in sleeps)


def test_retry_after_throttled_start_that_went_through_does_not_create_a_second_run():
    fake = FakeEmrServerless()
    fake.start_errors = [client_error("ThrottlingException", "StartJobRun")]
    fake.start_creates_before_error = True
    ref = engine(fake).submit(SPEC, KEY)
    assert len(fake.runs) == 1  # exactly one run exists
    assert len(fake.ops("start_job_run")) == 1  # and no second submission was sent
    assert ref.run_id == "run1" and ref.attached


def test_retry_after_throttled_start_that_did_not_go_through_reuses_the_client_token():
    fake = FakeEmrServerless()
    fake.start_errors = [client_error("ThrottlingException", "StartJobRun"),
                         client_error("ServiceUnavailableException", "StartJobRun", 503)]
    ref = engine(fake).submit(SPEC, KEY)
    tokens = {p["clientToken"] for p in fake.ops("start_job_run")}
    assert len(fake.ops("start_job_run")) == 3 and len(tokens) == 1
    assert len(fake.runs) == 1 and ref.run_id == "run1"


def test_non_transient_start_error_is_not_retried():
    fake = FakeEmrServerless()
    fake.start_errors = [client_error("ValidationException", "StartJobRun")]
    with pytest.raises(ConfigError, match="ValidationException"):
        engine(fake).submit(SPEC, KEY)
    assert len(fake.ops("start_job_run")) == 1


def test_attaches_to_a_live_run_with_the_same_key_instead_of_starting_another():
    fake = FakeEmrServerless()
    first = engine(fake).submit(SPEC, KEY)
    fake.runs[first.run_id]["state"] = "RUNNING"
    second = engine(fake).submit(SPEC, KEY)
    assert second.run_id == first.run_id and second.attached
    assert len(fake.ops("start_job_run")) == 1


def test_a_live_run_with_another_key_is_not_attached():
    fake = FakeEmrServerless()
    first = engine(fake).submit(SPEC, KEY)
    fake.runs[first.run_id]["state"] = "RUNNING"
    other = engine(fake).submit(SPEC, "z" * 64)
    assert other.run_id != first.run_id and not other.attached


def test_rerun_after_a_finished_run_gets_a_fresh_client_token():
    fake = FakeEmrServerless()
    first = engine(fake).submit(SPEC, KEY)
    fake.runs[first.run_id]["state"] = "FAILED"
    second = engine(fake).submit(SPEC, KEY)
    t1, t2 = (p["clientToken"] for p in fake.ops("start_job_run"))
    assert t1 != t2 and second.run_id != first.run_id


def test_created_application_is_started_and_awaited_before_submitting():
    fake, sleeps = FakeEmrServerless(app_states=("CREATED", "STARTING", "STARTED")), Sleeps()
    engine(fake, sleeps).submit(SPEC, KEY)
    ops = [op for op, _ in fake.calls]
    assert ops.index("start_application") < ops.index("start_job_run")
    assert ops.count("start_application") == 1 and len(sleeps) == 2


def test_terminated_application_is_a_config_error():
    with pytest.raises(ConfigError, match="TERMINATED"):
        engine(FakeEmrServerless(app_states=("TERMINATED",))).submit(SPEC, KEY)


def test_cancel_calls_cancel_job_run():
    fake = FakeEmrServerless()
    eng = engine(fake)
    ref = eng.submit(SPEC, KEY)
    eng.cancel(ref)
    assert fake.ops("cancel_job_run") == [{"jobRunId": ref.run_id}]
    assert eng.get(ref).state == "CANCELLING"


def test_is_transient():
    assert is_transient(client_error("ThrottlingException", "X"))
    assert is_transient(client_error("Whatever", "X", 502))
    assert not is_transient(client_error("AccessDeniedException", "X", 403))
    assert not is_transient(ValueError("x"))


def test_stubbed_client_wire_shapes():
    """The real botocore client + Stubber: our calls and parsing match the service model."""
    import boto3
    from botocore.stub import ANY, Stubber

    client = boto3.client("emr-serverless", region_name="us-east-1")
    app_arn = f"arn:aws:emr-serverless:us-east-1:123456789012:/applications/{APP}"
    run_arn = f"{app_arn}/jobruns/jr1"
    sleeps = Sleeps()
    eng = EmrServerlessEngine(client, APP, ROLE, "art", sleep=sleeps, clock=lambda: 0.0)
    with Stubber(client) as stub:
        stub.add_response("get_application", {"application": {
            "applicationId": APP, "name": "deplat", "arn": app_arn, "releaseLabel": "emr-7.2.0",
            "type": "SPARK", "state": "STARTED", "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z"}}, {"applicationId": APP})
        stub.add_response("list_job_runs", {"jobRuns": []}, {"applicationId": APP, "states": ANY})
        stub.add_client_error("start_job_run", "ThrottlingException", "slow down", 400)
        stub.add_response("list_job_runs", {"jobRuns": []}, {"applicationId": APP, "states": ANY})
        stub.add_response("start_job_run", {"applicationId": APP, "jobRunId": "jr1", "arn": run_arn})
        for state in ("PENDING", "RUNNING", "SUCCESS"):
            stub.add_response("get_job_run", {"jobRun": {
                "applicationId": APP, "jobRunId": "jr1", "arn": run_arn,
                "createdBy": "arn:aws:iam::123456789012:user/op",
                "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z",
                "executionRole": ROLE, "state": state, "stateDetails": f"{state} now",
                "releaseLabel": "emr-7.2.0",
                "jobDriver": {"sparkSubmit": {"entryPoint": SPEC.entry_point}}}},
                {"applicationId": APP, "jobRunId": "jr1"})
            if state == "RUNNING":
                stub.add_client_error("get_dashboard_for_job_run", "ResourceNotFoundException", "no UI", 404)
        ref = eng.submit(SPEC, KEY)
        final = poll(eng, ref, sleeps)
        stub.assert_no_pending_responses()
    assert isinstance(ref, RunRef) and ref.run_id == "jr1"
    assert final.state == "SUCCESS" and final.dashboard_url is None
