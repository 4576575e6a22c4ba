"""The one place boto3 sessions and clients are made.

Standard retry mode for every client; an endpoint override and fixed fake credentials for the
local environment, behind a guard that refuses to run when "local" could reach real AWS.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from deplat.core.config import Environment
from deplat_job.errors import ConfigError, EndpointUnreachableError, SafetyError
from deplat_job.shared import client_config, is_loopback

__all__ = ["Aws", "check_local_safety", "client_config", "is_loopback", "local_credentials", "looks_real"]

LOCAL_FAKE_KEY = "testing"
LOCAL_FAKE_SECRET = "testing"  # noqa: S105 - moto's conventional fake credential
# A local moto server answers at once or not at all: 3 attempts (~1-3 s), not the cloud's 8.
LOCAL_MAX_ATTEMPTS = 3
LOCAL_CONNECT_TIMEOUT_S = 2
# AWS access key ids: AKIA (long-term) / ASIA (temporary), 16 more upper-case alphanumerics.
_REAL_KEY = re.compile(r"^(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}$")


def looks_real(access_key_id: str | None) -> bool:
    return bool(access_key_id and _REAL_KEY.match(access_key_id))


def check_local_safety(env: Environment) -> None:
    """Refuse (exit 7) when a local env could write to a real AWS account, or when a cloud env
    points at a loopback endpoint (a local stack's moto, e.g. a leaked DEPLAT_*_ENDPOINT_URL)."""
    if not env.is_local:
        if env.endpoint_url and is_loopback(env.endpoint_url):
            raise SafetyError(
                f"environment '{env.name}' is a cloud environment but its endpoint {env.endpoint_url!r} "
                "is loopback (a local stack)",
                f"unset DEPLAT_{env.name.upper()}_ENDPOINT_URL / endpoint_url, or use `--env local`",
            )
        return
    if not env.endpoint_url or not is_loopback(env.endpoint_url):
        raise SafetyError(
            f"environment '{env.name}' is local but its endpoint {env.endpoint_url!r} is not loopback",
            "point endpoint_url at the moto server on 127.0.0.1, or use a cloud environment",
        )
    if env.profile:
        raise SafetyError(
            f"environment '{env.name}' is local but names the AWS profile '{env.profile}'",
            "remove 'profile' from the local environment: it uses fake credentials",
        )
    if looks_real(env.access_key_id):
        raise SafetyError(
            f"environment '{env.name}' is local but its access key looks like a real AWS key",
            "unset DEPLAT_ACCESS_KEY_ID / access_key_id; the local env uses fake credentials",
        )


def local_credentials(env: Environment) -> dict[str, str]:
    """Credentials handed to boto3 and Terraform for a local env (never the default chain)."""
    return {
        "AWS_ACCESS_KEY_ID": env.access_key_id or LOCAL_FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": env.secret_access_key or LOCAL_FAKE_SECRET,
        "AWS_DEFAULT_REGION": env.region,
        "AWS_REGION": env.region,
    }


def unreachable_error(env: Environment, exc: BaseException) -> EndpointUnreachableError:
    """The one error for "the endpoint did not answer", with the hint for the environment's kind."""
    where = env.endpoint_url or f"AWS ({env.region})"
    if env.is_local:
        hint = f"start the local stack: `deplat local up` (moto serves {env.endpoint_url})"
    else:
        profile = f" --profile {env.profile}" if env.profile else ""
        hint = (f"check the network and the endpoint {where}; test the credentials with "
                f"`aws sts get-caller-identity{profile}`")
    return EndpointUnreachableError(f"{where} is not reachable ({type(exc).__name__})", hint)


def _raise_unreachable(env: Environment):
    def hook(exception: BaseException | None = None, **_: Any) -> None:
        from botocore.exceptions import EndpointConnectionError

        if isinstance(exception, EndpointConnectionError):
            raise unreachable_error(env, exception) from exception

    return hook


class Aws:
    """Per-environment session and cached clients. Built lazily: importing boto3 costs ~0.3 s."""

    def __init__(self, env: Environment, session: Any = None):
        self.env = env
        check_local_safety(env)
        self._session = session
        self._clients: dict[str, Any] = {}

    @cached_property
    def session(self) -> Any:
        if self._session is not None:
            return self._session
        import boto3
        import botocore.exceptions

        if self.env.is_local:
            creds = local_credentials(self.env)
            return boto3.Session(
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                region_name=self.env.region,
            )
        try:
            return boto3.Session(profile_name=self.env.profile, region_name=self.env.region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise ConfigError(
                f"AWS profile '{self.env.profile}' for environment '{self.env.name}' not found",
                f"run `aws configure sso --profile <name>` or set DEPLAT_{self.env.name.upper()}_PROFILE",
            ) from exc

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = client_config()
            if self.env.is_local:
                from botocore.config import Config

                config = config.merge(Config(retries={"mode": "standard", "max_attempts": LOCAL_MAX_ATTEMPTS},
                                             connect_timeout=LOCAL_CONNECT_TIMEOUT_S))
            kwargs: dict[str, Any] = {"config": config}
            if self.env.endpoint_url:
                kwargs["endpoint_url"] = self.env.endpoint_url
            client = self.session.client(service, **kwargs)
            # Raised after botocore's bounded retries: every command gets the same error and hint.
            client.meta.events.register("after-call-error", _raise_unreachable(self.env))
            self._clients[service] = client
        return self._clients[service]
