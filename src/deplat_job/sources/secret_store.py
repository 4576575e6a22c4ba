"""Source credentials in Secrets Manager: the one naming rule, the one reader, the one writer.

Both sides import this: the CLI (`deplat secrets`, the local seeding) and the jobs on EMR, so it is
standard library only and Python 3.9-compatible. Values are JSON objects; nothing here ever puts a
value into a message, an exception or a return value other than `read_secret`'s.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "deplat"
SOURCES = ("salesforce", "snowflake", "kafka", "rds")

# Keys a source's job needs; a tuple of alternatives means "one of these" (e.g. Snowflake password
# or key-pair authentication). Salesforce: the OAuth 2.0 username-password flow
# (deplat_job.sources.salesforce); Snowflake: snowflake-connector-python's connect() arguments.
REQUIRED_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "salesforce": (("login_url",), ("client_id",), ("client_secret",), ("username",), ("password",)),
    "snowflake": (("account",), ("user",), ("password", "private_key_file", "authenticator")),
    "kafka": (("bootstrap_servers",),),
    # The JSON RDS and DMS use for PostgreSQL credentials (deplat_job.sources.rds: the key snapshot job).
    "rds": (("host",), ("port",), ("dbname",), ("username",), ("password",)),
}


def secret_name(env: str, source: str) -> str:
    """`deplat/<env>/<source>`: the name Terraform gives the secret (output `secret_names`)."""
    return f"{PREFIX}/{env}/{source}"


def missing_keys(source: str, value: dict[str, Any]) -> list[str]:
    """The required keys absent or empty in `value` ("a|b" when one of several is needed)."""
    missing = []
    for alternatives in REQUIRED_KEYS.get(source, ()):
        if not any(value.get(key) not in (None, "") for key in alternatives):
            missing.append("|".join(alternatives))
    return missing


def read_secret(name: str, client: Any = None) -> dict[str, Any]:
    """The secret's current JSON object. boto3 honours AWS_ENDPOINT_URL (the local env's moto).

    Raises LookupError when the secret or its value does not exist, ValueError when it is not a
    JSON object (neither message quotes the value).
    """
    if client is None:
        from deplat_job.shared import job_client

        client = job_client("secretsmanager")
    try:
        raw = client.get_secret_value(SecretId=name)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        raise LookupError(f"secret {name} does not exist or has no value") from None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"secret {name} is not a JSON object")
    return value


def write_secret(client: Any, name: str, value: dict[str, Any], *, create: bool = False,
                 description: str = "") -> tuple[str, str | None]:
    """Make `value` the secret's current version: (action, version id).

    action is "unchanged" (same JSON already current: no new version), "updated" or "created".
    A missing secret is created only with `create=True` (local seeding); otherwise LookupError,
    because in the cloud Terraform owns the secret shells.
    """
    text = json.dumps(value, sort_keys=True)
    try:
        current = client.get_secret_value(SecretId=name)
    except client.exceptions.ResourceNotFoundException:
        current = None
    if current is not None and _same_json(current.get("SecretString"), text):
        return "unchanged", current.get("VersionId")
    try:
        response = client.put_secret_value(SecretId=name, SecretString=text)
        return "updated", response.get("VersionId")
    except client.exceptions.ResourceNotFoundException:
        if not create:
            raise LookupError(f"secret {name} does not exist") from None
    kwargs = {"Description": description} if description else {}
    response = client.create_secret(Name=name, SecretString=text, **kwargs)
    return "created", response.get("VersionId")


def _same_json(current: str | None, text: str) -> bool:
    if current is None:
        return False
    try:
        return json.dumps(json.loads(current), sort_keys=True) == text
    except ValueError:
        return False
