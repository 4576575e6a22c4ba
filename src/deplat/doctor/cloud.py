"""`deplat doctor -e dev|prod`: the cloud environment's checks, each failure with its fix.

Names come from the Terraform outputs cache; every call is read-only. Checked: the EMR Serverless
application (state, release, maximum capacity), the job role (trust for emr-serverless, S3 access
by IAM policy simulation), the log destinations (artifacts bucket, CloudWatch log group), whether
Lake Formation governs the lake (admins, no IAMAllowedPrincipals defaults, the lake registered, the
layer databases), the Glue databases, and the source secrets (by name, never values).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deplat.doctor.check import Check

if TYPE_CHECKING:
    from deplat.core.context import Context

FIX_APPLY = "run `deplat -e {env} infra apply`"


def _error(exc: Exception) -> str:
    err = getattr(exc, "response", {}).get("Error", {})
    return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', exc)}"


def _emr(ctx: Context, out: dict[str, Any]) -> Check:
    try:
        app = ctx.aws.client("emr-serverless").get_application(
            applicationId=out["emr_application_id"])["application"]
    except Exception as exc:  # noqa: BLE001 - every failure is a check result
        return Check("emr application", False, _error(exc), FIX_APPLY.format(env=ctx.env.name))
    cap = app.get("maximumCapacity") or {}
    limits = ", ".join(f"{k} {v}" for k, v in cap.items()) or "no maximum capacity (unbounded cost)"
    ok = app["state"] in ("CREATED", "STARTED", "STOPPED") and bool(cap)
    fix = ("the application is TERMINATED: " + FIX_APPLY.format(env=ctx.env.name)
           if app["state"] == "TERMINATED" else "set emr_maximum_capacity in the tfvars and apply")
    return Check("emr application", ok, f"{app['applicationId']} {app['state']} {app.get('releaseLabel')}; "
                 f"max {limits}", "" if ok else fix)


def _job_role(ctx: Context, out: dict[str, Any]) -> list[Check]:
    iam = ctx.aws.client("iam")
    arn = out["emr_job_role_arn"]
    try:
        role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
    except Exception as exc:  # noqa: BLE001
        return [Check("job role", False, _error(exc), FIX_APPLY.format(env=ctx.env.name))]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    trusted = "emr-serverless.amazonaws.com" in json.dumps(trust)
    checks = [Check("job role trust", trusted, f"{arn} trusts emr-serverless.amazonaws.com" if trusted
                    else f"{arn} is not assumable by EMR Serverless",
                    "" if trusted else "add emr-serverless.amazonaws.com to the role's trust policy (terraform)")]
    # What the jobs need: read/write the lake, read the code, write the driver logs.
    needs = [(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{out['lake_bucket']}/*"),
             (["s3:GetObject"], f"arn:aws:s3:::{out['artifacts_bucket']}/artifacts/*"),
             (["s3:PutObject"], f"arn:aws:s3:::{out['artifacts_bucket']}/logs/*")]
    try:
        results = [r for actions, resource in needs for r in iam.simulate_principal_policy(
            PolicySourceArn=arn, ActionNames=actions, ResourceArns=[resource])["EvaluationResults"]]
        how = "IAM policy simulation"
    except Exception:  # noqa: BLE001 - no iam:SimulatePrincipalPolicy for this operator (or moto)
        results = [r for actions, resource in needs
                   for r in _static_evaluation(iam, role["RoleName"], actions, [resource])]
        how = "the role's own Allow statements (simulation unavailable; SCPs and Deny not evaluated)"
    denied = sorted({f"{r['EvalActionName']} on {r.get('EvalResourceName')}" for r in results
                     if r.get("EvalDecision") != "allowed"})
    checks.append(Check("job role s3 access", not denied,
                        (f"lake read/write, code read, log write, by {how}" if not denied
                         else "; ".join(denied) + f" (by {how})"),
                        "" if not denied else "fix the job role's S3 policy in terraform and apply"))
    return checks


def _statements(iam, role_name: str) -> list[dict[str, Any]]:
    docs = [iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        docs.append(iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                           VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"])
    out = []
    for doc in docs:
        doc = json.loads(doc) if isinstance(doc, str) else doc
        stmts = doc.get("Statement", [])
        out += stmts if isinstance(stmts, list) else [stmts]
    return out


def _static_evaluation(iam, role_name: str, actions: list[str], resources: list[str]) -> list[dict[str, Any]]:
    """Simulation-shaped results from the role's Allow statements (wildcards matched with fnmatch)."""
    from fnmatch import fnmatchcase

    def listed(value):
        return value if isinstance(value, list) else [value]

    allows = [s for s in _statements(iam, role_name) if s.get("Effect") == "Allow"]
    results = []
    for action in actions:
        for resource in resources:
            ok = any(any(fnmatchcase(action.lower(), a.lower()) for a in listed(s.get("Action", [])))
                     and any(fnmatchcase(resource, r) for r in listed(s.get("Resource", [])))
                     for s in allows)
            results.append({"EvalActionName": action, "EvalResourceName": resource,
                            "EvalDecision": "allowed" if ok else "implicitDeny"})
    return results


def _logs(ctx: Context, out: dict[str, Any]) -> list[Check]:
    checks = []
    try:
        ctx.aws.client("s3").head_bucket(Bucket=out["artifacts_bucket"])
        checks.append(Check("log bucket", True, f"s3://{out['artifacts_bucket']}/logs/"))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("log bucket", False, _error(exc), FIX_APPLY.format(env=ctx.env.name)))
    group = out.get("log_group_name")
    if group:
        found = ctx.aws.client("logs").describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        ok = any(g["logGroupName"] == group for g in found)
        checks.append(Check("log group", ok, group, "" if ok else FIX_APPLY.format(env=ctx.env.name)))
    return checks


def _lake_formation(ctx: Context, out: dict[str, Any]) -> list[Check]:
    """Is the lake governed by Lake Formation (deplat.governance.governance_status)?"""
    from deplat.governance import governance_status

    databases = [out[k] for k in ("glue_database_silver", "glue_database_gold") if out.get(k)]
    status = governance_status(ctx.aws.client("lakeformation"), ctx.aws.client("glue"), out["lake_bucket"],
                               databases, ctx.env.name)
    return [Check(c.name, c.ok, c.detail, c.fix) for c in status.checks]


def _glue(ctx: Context, out: dict[str, Any]) -> list[Check]:
    glue = ctx.aws.client("glue")
    checks = []
    for key in ("glue_database_silver", "glue_database_gold"):
        name = out.get(key)
        try:
            glue.get_database(Name=name)
            checks.append(Check(f"glue database {name}", True, "exists"))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check(f"glue database {name}", False, _error(exc), FIX_APPLY.format(env=ctx.env.name)))
    return checks


def _secrets(ctx: Context, out: dict[str, Any]) -> list[Check]:
    sm = ctx.aws.client("secretsmanager")
    checks = []
    for source, name in sorted((out.get("secret_names") or {}).items()):
        try:
            meta = sm.describe_secret(SecretId=name)  # metadata only: the value is never read
        except Exception as exc:  # noqa: BLE001
            checks.append(Check(f"secret {name}", False, _error(exc), FIX_APPLY.format(env=ctx.env.name)))
            continue
        has_value = bool(meta.get("VersionIdsToStages"))
        checks.append(Check(f"secret {name}", has_value, "present" if has_value else "created, no value yet",
                            "" if has_value else f"`deplat -e {ctx.env.name} secrets put {source} < creds.json`"))
    return checks


def cloud_checks(ctx: Context) -> list[Check]:
    """Read-only checks of the environment's AWS resources (names from the outputs cache)."""
    out = ctx.outputs(required=False)
    if not out:
        return [Check("terraform outputs", False, f"none cached for '{ctx.env.name}'",
                      f"run `deplat -e {ctx.env.name} infra apply` (or `infra output`)")]
    return [_emr(ctx, out), *_job_role(ctx, out), *_logs(ctx, out), *_lake_formation(ctx, out),
            *_glue(ctx, out), *_secrets(ctx, out)]
