"""EmrServerlessEngine against the moto server: application start, job run, tags, cancel.

moto runs with the EMR Serverless stand-in (`deplat local up`), which creates applications CREATED
and runs what StartJobRun names; the scripted state sequences (throttling, 5xx) live in
tests/unit/deplat/engines/test_emr_serverless.py.
"""

import time
import uuid

import boto3
import pytest

from deplat.engines.base import JobSpec, PollPolicy
from deplat.engines.emr_serverless import KEY_TAG, EmrServerlessEngine
from deplat.engines.poll import Poller

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/deplat-test-job"


@pytest.fixture
def emr(local_stack):
    client = boto3.client("emr-serverless", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1")
    app = client.create_application(name=f"deplat-test-{uuid.uuid4().hex[:8]}", releaseLabel="emr-7.2.0",
                                    type="SPARK")["applicationId"]
    yield client, app
    client.stop_application(applicationId=app)
    deadline = time.monotonic() + 10
    while client.get_application(applicationId=app)["application"]["state"] != "STOPPED":
        assert time.monotonic() < deadline, "the application did not stop"
        time.sleep(0.2)
    client.delete_application(applicationId=app)


def test_submit_starts_the_application_then_the_stand_in_fails_a_run_whose_code_is_missing(emr):
    client, app = emr
    assert client.get_application(applicationId=app)["application"]["state"] == "CREATED"
    engine = EmrServerlessEngine(client, app, ROLE, "art-bucket", sleep=lambda s: time.sleep(min(s, 0.5)))
    spec = JobSpec("fx", "fx_to_bronze", "s3://art-bucket/artifacts/ab/fx_to_bronze.py",
                   ("--lake", "s3://lake", "--batch-id", "b1", "--env", "local"),
                   ("s3://art-bucket/artifacts/cd/deplat-0.1.0-py3-none-any.whl",))
    key = uuid.uuid4().hex * 2

    ref = engine.submit(spec, key)
    assert client.get_application(applicationId=app)["application"]["state"] == "STARTED"
    job = client.get_job_run(applicationId=app, jobRunId=ref.run_id)["jobRun"]
    assert job["tags"][KEY_TAG] == key and job["tags"]["deplat:step"] == "fx_to_bronze"
    assert job["jobDriver"]["sparkSubmit"]["entryPoint"] == spec.entry_point
    assert job["name"].endswith(key[:12])

    # moto's plain EMR Serverless said SUCCESS at once; the stand-in (`deplat local up` always
    # starts moto with it) fetches the entry point, which no bucket holds: FAILED, and says why.
    final = Poller(lambda: engine.get(ref), policy=PollPolicy(0.2, 1.0, 0.2), timeout=30).wait()
    assert final.state == "FAILED" and "cannot fetch s3://art-bucket/artifacts/ab/fx_to_bronze.py" in final.details
    engine.cancel(ref)  # a finished run: nothing to cancel, the state stays
    assert engine.get(ref).state == "FAILED"
    assert engine.application_state()["state"] == "STARTED"

    again = engine.submit(spec, key)  # the first run is no longer live: a new run, not an attach
    assert again.run_id != ref.run_id and not again.attached
    engine.cancel(again)
    assert Poller(lambda: engine.get(again), policy=PollPolicy(0.2, 1.0, 0.2), timeout=30).wait().terminal
