"""EmrServerlessEngine against the moto server: application start, job run, tags, cancel.

moto finishes job runs at once (SUCCESS) and our launcher makes it create applications CREATED,
as AWS does; the scripted state sequences live in tests/unit/test_emr_engine.py.
"""

import uuid

import boto3
import pytest

from deplat.engines.base import JobSpec
from deplat.engines.emr_serverless import KEY_TAG, EmrServerlessEngine

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/deplat-test-job"


@pytest.fixture
def emr(local_stack):
    client = boto3.client("emr-serverless", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1")
    app = client.create_application(name=f"deplat-test-{uuid.uuid4().hex[:8]}", releaseLabel="emr-7.2.0",
                                    type="SPARK")["applicationId"]
    yield client, app
    client.stop_application(applicationId=app)
    client.delete_application(applicationId=app)


def test_submit_starts_the_application_then_get_and_cancel(emr):
    client, app = emr
    assert client.get_application(applicationId=app)["application"]["state"] == "CREATED"
    sleeps = []
    engine = EmrServerlessEngine(client, app, ROLE, "art-bucket", sleep=sleeps.append)
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

    assert engine.get(ref).state == "SUCCESS"  # moto's runs finish immediately
    engine.cancel(ref)
    assert engine.get(ref).state == "CANCELLED"
    assert engine.application_state()["state"] == "STARTED"

    again = engine.submit(spec, key)  # the first run is no longer live: a new run, not an attach
    assert again.run_id != ref.run_id and not again.attached
