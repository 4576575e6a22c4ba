"""Is the lake governed by Lake Formation? `deplat doctor -e <cloud>` and `deplat lf show` read the
account's answers (botocore Stubber: Lake Formation's and Glue's real response shapes, validated
against their service models), and say which condition fails and how to fix it."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from deplat.governance import IAM_ALLOWED_PRINCIPALS, governance_status

LAKE = "deplat-dev-lake-111122223333"
LAKE_ARN = f"arn:aws:s3:::{LAKE}"
DBS = ["deplat_dev_silver", "deplat_dev_gold"]
ADMIN = "arn:aws:iam::111122223333:role/deplat-ci"
IAM_ALLOWED = [{"Principal": {"DataLakePrincipalIdentifier": IAM_ALLOWED_PRINCIPALS}, "Permissions": ["ALL"]}]


def _clients():
    lf = boto3.client("lakeformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    glue = boto3.client("glue", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return lf, glue, Stubber(lf), Stubber(glue)


def _answers(lf_stub, glue_stub, *, admins, defaults, registered, db_grants, db_defaults):
    lf_stub.add_response("get_data_lake_settings", {"DataLakeSettings": {
        "DataLakeAdmins": [{"DataLakePrincipalIdentifier": a} for a in admins],
        "CreateDatabaseDefaultPermissions": defaults, "CreateTableDefaultPermissions": defaults}})
    lf_stub.add_response("list_resources", {"ResourceInfoList": [{"ResourceArn": a} for a in registered[:1]],
                                            **({"NextToken": "t"} if len(registered) > 1 else {})})
    if len(registered) > 1:
        lf_stub.add_response("list_resources", {"ResourceInfoList": [{"ResourceArn": a} for a in registered[1:]]},
                             {"NextToken": "t"})
    for db in DBS:
        glue_stub.add_response("get_database", {"Database": {"Name": db, "CreateTableDefaultPermissions": db_defaults}},
                               {"Name": db})
        grants = [{"Principal": {"DataLakePrincipalIdentifier": IAM_ALLOWED_PRINCIPALS},
                   "Resource": {"Database": {"Name": db}}, "Permissions": ["ALL"]}] if db_grants else []
        lf_stub.add_response("list_permissions", {"PrincipalResourcePermissions": grants},
                             {"Principal": {"DataLakePrincipalIdentifier": IAM_ALLOWED_PRINCIPALS},
                              "Resource": {"Database": {"Name": db}}})


def _status(**answers):
    lf, glue, lf_stub, glue_stub = _clients()
    _answers(lf_stub, glue_stub, **answers)
    with lf_stub, glue_stub:
        status = governance_status(lf, glue, LAKE, DBS, "dev")
    lf_stub.assert_no_pending_responses()
    glue_stub.assert_no_pending_responses()
    return status


GOVERNED = dict(admins=[ADMIN], defaults=[], registered=["arn:aws:s3:::other-bucket", LAKE_ARN],
                db_grants=False, db_defaults=[])


def test_a_governed_lake_passes_every_check():
    status = _status(**GOVERNED)
    assert status.governed, status.to_dict()
    checks = {c.name: c for c in status.checks}
    assert set(checks) == {"lake formation admin", "lake formation default grants", "lake location registered",
                           *(f"lake formation database {db}" for db in DBS)}
    assert checks["lake formation admin"].detail == ADMIN
    assert status.to_dict()["governed"] is True


def test_an_account_with_default_settings_is_not_governed_and_each_failure_names_its_fix():
    """The account as AWS creates it: no admin, ALL to IAM_ALLOWED_PRINCIPALS on new databases and
    tables, nothing registered, databases created under those defaults."""
    status = _status(admins=[], defaults=IAM_ALLOWED, registered=[], db_grants=True, db_defaults=IAM_ALLOWED)
    assert not status.governed
    assert not any(c.ok for c in status.checks)
    checks = {c.name: c for c in status.checks}
    assert "infra apply" in checks["lake formation admin"].fix
    assert "IAMAllowedPrincipals" in checks["lake formation default grants"].detail
    assert f"{LAKE_ARN} is not registered" in checks["lake location registered"].detail
    db = checks["lake formation database deplat_dev_silver"]
    assert "grants IAMAllowedPrincipals" in db.detail and "new tables" in db.detail
    assert "revoke-permissions" in db.fix


@pytest.mark.parametrize("broken, failing", [
    (dict(admins=[ADMIN]), set()),
    (dict(defaults=IAM_ALLOWED), {"lake formation default grants"}),
    (dict(registered=["arn:aws:s3:::other-bucket"]), {"lake location registered"}),
    (dict(db_grants=True), {f"lake formation database {db}" for db in DBS}),
    (dict(db_defaults=IAM_ALLOWED), {f"lake formation database {db}" for db in DBS}),
])
def test_one_gap_is_enough_to_be_ungoverned(broken, failing):
    status = _status(**{**GOVERNED, **broken})
    assert {c.name for c in status.checks if not c.ok} == failing
    assert status.governed is (not failing)


def test_access_denied_is_a_failed_check_not_a_crash():
    lf, glue, lf_stub, glue_stub = _clients()
    lf_stub.add_client_error("get_data_lake_settings", "AccessDeniedException", "not authorized", 400)
    lf_stub.add_client_error("list_resources", "AccessDeniedException", "not authorized", 400)
    with lf_stub, glue_stub:
        status = governance_status(lf, glue, LAKE, [], "dev")
    checks = {c.name: c for c in status.checks}
    assert not status.governed
    assert checks["lake formation admin"].detail.startswith("AccessDeniedException")
    assert "lakeformation:GetDataLakeSettings" in checks["lake formation admin"].fix
    assert "lakeformation:ListResources" in checks["lake location registered"].fix


def test_doctor_reports_the_lake_formation_checks():
    """`deplat doctor -e dev`: admins alone (what it checked before) do not make the lake governed."""
    from deplat.doctor.cloud import _lake_formation

    lf, glue, lf_stub, glue_stub = _clients()
    _answers(lf_stub, glue_stub, **{**GOVERNED, "defaults": IAM_ALLOWED})
    clients = {"lakeformation": lf, "glue": glue}
    ctx = SimpleNamespace(env=SimpleNamespace(name="dev"), aws=SimpleNamespace(client=clients.__getitem__))
    out = {"lake_bucket": LAKE, "glue_database_silver": DBS[0], "glue_database_gold": DBS[1]}
    with lf_stub, glue_stub:
        checks = {c.name: c for c in _lake_formation(ctx, out)}
    assert checks["lake formation admin"].ok
    assert not checks["lake formation default grants"].ok and checks["lake formation default grants"].required
    assert checks["lake location registered"].ok
