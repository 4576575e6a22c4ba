"""Source credentials in the platform's Secrets Manager secrets (Terraform creates them empty).

Values arrive on stdin or from a file, never on argv (shell history, `ps`), and are never logged,
printed or returned: results carry names and version ids only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from deplat.errors import ConfigError


@dataclass
class SecretInfo:
    source: str
    name: str
    has_value: bool
    last_changed: str | None = None
    version_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _names(ctx) -> dict[str, str]:
    return dict(ctx.output("secret_names"))


def put_secret(ctx, source: str, value: str) -> SecretInfo:
    """Store `value` (a JSON object) as the new current version of the source's secret."""
    names = _names(ctx)
    if source not in names:
        raise ConfigError(f"unknown secret '{source}'", f"choose one of: {', '.join(sorted(names))}")
    value = value.strip()
    if not value:
        raise ConfigError("the secret value is empty", "pipe the JSON on stdin or pass --from-file")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        # The error never quotes the value: it may be a password typed in the wrong place.
        raise ConfigError(f"the value for '{source}' is not a JSON object",
                          'the jobs read JSON, e.g. {"user": "...", "password": "..."}')
    client = ctx.aws.client("secretsmanager")
    try:
        response = client.put_secret_value(SecretId=names[source], SecretString=value)
    except client.exceptions.ResourceNotFoundException:
        raise ConfigError(f"secret '{names[source]}' does not exist",
                          "run `deplat infra apply`: Terraform creates the secret shells") from None
    return SecretInfo(source, names[source], True, version_id=response.get("VersionId"))


def list_secrets(ctx) -> list[SecretInfo]:
    """Each source's secret and whether a value has been put (values are never read)."""
    client = ctx.aws.client("secretsmanager")
    out = []
    for source, name in sorted(_names(ctx).items()):
        try:
            meta = client.describe_secret(SecretId=name)
        except client.exceptions.ResourceNotFoundException:
            out.append(SecretInfo(source, name, False))
            continue
        stages = meta.get("VersionIdsToStages") or {}
        current = [version for version, labels in stages.items() if "AWSCURRENT" in labels]
        changed = meta.get("LastChangedDate")
        out.append(SecretInfo(source, name, bool(current), changed.isoformat() if changed else None,
                              current[0] if current else None))
    return out
