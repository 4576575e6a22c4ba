"""No code path of deplat may schedule the deletion of a KMS key.

Scheduling deletion of the platform key makes every object, backup and replica encrypted with it
unreadable once the window passes (the old runbook's "rotate" step did exactly that). Rotation is
`enable_key_rotation`; `deplat infra destroy` forgets keys instead of deleting them.
"""

import json
import re
from pathlib import Path

import pytest

from deplat.core.terraform import summarize_plan
from deplat.infra import _refuse_removing_retained, destroy_targets
from deplat_job.errors import SafetyError

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parents[1] / "data" / "terraform"

# API names (boto3 snake_case, CLI kebab-case, IAM action / API CamelCase) and the Terraform
# argument whose only purpose is the deletion window.
FORBIDDEN = re.compile(
    r"schedule_key_deletion|schedule-key-deletion|ScheduleKeyDeletion|deletion_window_in_days", re.IGNORECASE)
SUFFIXES = {".py", ".tf", ".json", ".tfvars", ".sh", ".hcl", ".yaml", ".yml"}


def _sources():
    for folder in ("terraform", "src", "jobs"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and ".terraform" not in path.parts:
                yield path


def test_no_code_can_schedule_kms_key_deletion():
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
            for p in _sources()
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
            if FORBIDDEN.search(line)]
    assert not hits, "KMS key deletion path found:\n" + "\n".join(hits)


def test_every_kms_key_resource_is_protected_from_destroy():
    found = 0
    for path in (ROOT / "terraform").rglob("*.tf"):
        text = path.read_text()
        for match in re.finditer(r'^resource\s+"aws_kms_key"\s+"(\w+)"\s*\{', text, re.M):
            found += 1
            body = _block(text, match.end() - 1)
            assert re.search(r"lifecycle\s*\{[^}]*prevent_destroy\s*=\s*true", body), \
                f"{path.name}: aws_kms_key.{match.group(1)} lacks prevent_destroy = true"
            assert re.search(r"enable_key_rotation\s*=\s*true", body), \
                f"{path.name}: aws_kms_key.{match.group(1)} lacks enable_key_rotation = true"
    assert found >= 1


def _block(text: str, open_brace: int) -> str:
    depth = 0
    for i in range(open_brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_brace:i + 1]
    raise AssertionError("unbalanced braces")


def test_a_plan_that_deletes_a_kms_key_is_refused():
    summary = summarize_plan(json.loads((DATA / "show_destroy_plan.json").read_text()), destroy=True)
    with pytest.raises(SafetyError, match="aws_kms_key.k") as err:
        _refuse_removing_retained(summary)
    assert err.value.exit_code == 7


def test_destroy_targets_skip_kms_keys_and_data_sources():
    state = [
        "data.aws_caller_identity.current",
        "aws_kms_key.platform",
        "aws_kms_alias.platform",
        "aws_kms_key.replica[0]",
        "module.emr.data.aws_region.current",
        "module.lake_bucket.aws_s3_bucket.this",
        'module.x["a"].module.y.aws_kms_key.nested',
    ]
    targets, kept = destroy_targets(state)
    assert kept == ["aws_kms_key.platform", "aws_kms_key.replica[0]",
                    'module.x["a"].module.y.aws_kms_key.nested']
    assert targets == ["aws_kms_alias.platform", "module.lake_bucket.aws_s3_bucket.this"]
