"""Salesforce reader: connection settings from Secrets Manager, simple-salesforce, incremental SOQL.

The secret (JSON) holds the connected app and integration user for the OAuth 2.0 username-password
flow: {"login_url", "client_id", "client_secret", "username", "password", "security_token",
"api_version"}. `login_url` is https://login.salesforce.com (or a My Domain) in the cloud and the
local stand-in (http://127.0.0.1:<port>) locally. simple-salesforce builds every URL as https; for a
loopback http instance the session gets an adapter that sends those requests over plain http.
Plain http is refused for any other host.

Python 3.9-compatible: jobs import this on the EMR runtime.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from deplat_job.errors import ConfigError
from deplat_job.shared import refuse_plaintext
from deplat_job.sources.secret_store import secret_name as _secret_name

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

DEFAULT_API_VERSION = "59.0"


@dataclass(frozen=True)
class SalesforceConfig:
    login_url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str = ""
    api_version: str = DEFAULT_API_VERSION

    def __repr__(self) -> str:  # never show credentials in logs or tracebacks
        return f"SalesforceConfig(login_url={self.login_url!r}, username={self.username!r}, ...)"

    @classmethod
    def from_json(cls, text: str) -> SalesforceConfig:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigError("the Salesforce secret is not valid JSON",
                              "store a JSON object with login_url, client_id, ...") from exc
        required = ("login_url", "client_id", "client_secret", "username", "password")
        missing = [k for k in required if not raw.get(k)]
        if missing:
            raise ConfigError(f"the Salesforce secret lacks {', '.join(missing)}",
                              "put the connected app and integration user into the secret")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: str(v) for k, v in raw.items() if k in known and v is not None})


def secret_name(env: str) -> str:
    """The secret's name by convention (Terraform's `secret_names.salesforce`)."""
    return _secret_name(env, "salesforce")


def read_config(name: str, client: Any = None) -> SalesforceConfig:
    """Read the connection settings from Secrets Manager by name (AWS_ENDPOINT_URL is honoured)."""
    if client is None:
        from deplat_job.shared import job_client

        client = job_client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=name)["SecretString"]
    except client.exceptions.ResourceNotFoundException as exc:
        raise ConfigError(f"secret '{name}' not found",
                          "run `deplat infra apply` and put the Salesforce connection into it "
                          "(locally: the source seeding does it)") from exc
    return SalesforceConfig.from_json(value)


def _plain_http_adapter():
    from requests.adapters import HTTPAdapter

    class _PlainHttp(HTTPAdapter):
        """simple-salesforce hardcodes https://; send to the loopback stand-in over http."""

        def send(self, request: PreparedRequest, stream: bool = False,
                 timeout: float | tuple[float | None, float | None] | None = None,
                 verify: bool | str = True, cert: str | tuple[str, str] | None = None,
                 proxies: dict[str, str] | None = None) -> Response:
            url = request.url or ""
            if url.startswith("https://"):
                request.url = "http://" + url[len("https://"):]
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                proxies=proxies)

    return _PlainHttp()


def _check_scheme(url: str) -> None:
    scheme = urlparse(url).scheme
    fix = "use https (plain http only for the loopback stand-in)"
    if scheme == "http":
        refuse_plaintext(f"Salesforce URL {url!r} over http", [urlparse(url).hostname or ""], fix)
    elif scheme != "https":
        raise ConfigError(f"refusing Salesforce URL {url!r}", fix)


def connect(config: SalesforceConfig, session: Any = None, timeout: float = 30.0):
    """Log in with the OAuth username-password flow and return a simple_salesforce.Salesforce."""
    import requests
    from simple_salesforce import Salesforce

    _check_scheme(config.login_url)
    session = session or requests.Session()
    resp = session.post(
        config.login_url.rstrip("/") + "/services/oauth2/token",
        data={"grant_type": "password", "client_id": config.client_id, "client_secret": config.client_secret,
              "username": config.username, "password": config.password + config.security_token},
        timeout=timeout,
    )
    if resp.status_code != 200:
        try:
            reason = resp.json().get("error_description", resp.reason)
        except ValueError:
            reason = resp.reason
        raise ConfigError(f"Salesforce login at {config.login_url} failed: {reason}",
                          "check the connected app and user in the Salesforce secret")
    token = resp.json()
    instance_url = token["instance_url"]
    _check_scheme(instance_url)
    if urlparse(instance_url).scheme == "http":
        parsed = urlparse(instance_url)
        session.mount(f"https://{parsed.netloc}/", _plain_http_adapter())
    return Salesforce(session_id=token["access_token"], instance_url=instance_url, session=session,
                      version=config.api_version)


def soql_datetime(value: datetime) -> str:
    """A SOQL dateTime literal (UTC, whole seconds: SOQL takes no fractions; flooring only re-reads)."""
    value = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_soql(obj: str, fields: Sequence[str], since: datetime | None = None) -> str:
    """SELECT <fields> FROM <obj> [WHERE SystemModstamp > <since>] ORDER BY SystemModstamp, Id."""
    where = f" WHERE SystemModstamp > {soql_datetime(since)}" if since is not None else ""
    return f"SELECT {', '.join(fields)} FROM {obj}{where} ORDER BY SystemModstamp, Id"


def parse_json(text: str) -> Any:
    """A REST API response body with every JSON number with a fraction or exponent as a Decimal.

    Currency and number fields arrive as JSON numbers, often in exponent form (9.007199254740993E15);
    a binary float holds only 15-17 significant digits, so they must never pass through one.
    """
    return json.loads(text, parse_float=Decimal)


def query_pages(sf: Any, soql: str, include_deleted: bool = True) -> Iterator[dict[str, Any]]:
    """The records of a SOQL query (queryAll with `include_deleted`), page by page through
    nextRecordsUrl, numbers as Decimal; each record without its `attributes`."""
    url = sf.base_url + ("queryAll/" if include_deleted else "query/")
    response = sf._call_salesforce("GET", url, name="query", params={"q": soql})
    while True:
        body = parse_json(response.text)
        for record in body.get("records", []):
            yield {k: v for k, v in record.items() if k != "attributes"}
        if body.get("done", True) or not body.get("nextRecordsUrl"):
            return
        response = sf._call_salesforce("GET", f"https://{sf.sf_instance}{body['nextRecordsUrl']}", name="query")


def fetch_changes(sf: Any, obj: str, fields: Sequence[str],
                  since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every record of `obj` changed after `since`, deleted ones included (queryAll, IsDeleted).

    Pages through queryMore lazily; numbers are Decimal (see `parse_json`).
    """
    wanted = list(fields)
    for extra in ("Id", "SystemModstamp", "IsDeleted"):
        if extra not in wanted:
            wanted.append(extra)
    yield from query_pages(sf, build_soql(obj, wanted, since), include_deleted=True)


# REST "sObject Get Deleted": "Results are returned for no more than 15 days previous to the day the
# call is executed (or earlier if an administrator has purged the Recycle Bin)", and a startDate
# beyond the delete log's reach is refused with INVALID_REPLICATION_DATE (the API rejects one more
# than 30 days back; SOAP guide, getDeleted(): "If you get this exception, you should do a full pull").
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm
GET_DELETED_DAYS = 15
REPLICATION_DATE_ERROR = "INVALID_REPLICATION_DATE"


class DeleteLogUnavailableError(LookupError):
    """getDeleted cannot cover the window: its start is older than the delete log reaches (the API
    answered INVALID_REPLICATION_DATE, or earliestDateAvailable is after the start). The caller
    falls back to ID reconciliation."""


def fetch_deleted(sf: Any, obj: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The records deleted in [start, end] from the org's delete log (REST "sObject Get Deleted").

    Unlike queryAll, the delete log still lists records whose recycle bin was emptied (purged).
    The API truncates seconds. Raises DeleteLogUnavailableError when the log cannot answer for the
    whole window (see GET_DELETED_DAYS). Returns [{"Id", "SystemModstamp" (deletedDate), "IsDeleted": True}].
    """
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    try:
        body = getattr(sf, obj).deleted(start, end)
    except SalesforceMalformedRequest as exc:
        # simple_salesforce annotates `content` as bytes; it holds the parsed JSON body (or its text)
        content: object = exc.content
        if REPLICATION_DATE_ERROR in str(content):
            raise DeleteLogUnavailableError(f"getDeleted {obj} from {start.isoformat()}: {content}") from None
        raise
    earliest = body.get("earliestDateAvailable")
    if earliest and _parse_sf_datetime(earliest) > start.astimezone(timezone.utc).replace(second=0, microsecond=0):
        raise DeleteLogUnavailableError(f"getDeleted {obj}: the delete log starts at {earliest}, "
                                        f"after the window's start {start.isoformat()}")
    return [{"Id": r["id"], "SystemModstamp": r["deletedDate"], "IsDeleted": True}
            for r in body.get("deletedRecords", [])]


def fetch_ids(sf: Any, obj: str) -> Iterator[str]:
    """Every live record's Id (`SELECT Id FROM <obj>` with query, not queryAll: records in the
    recycle bin are deleted too), paged through nextRecordsUrl (queryMore)."""
    for record in query_pages(sf, f"SELECT Id FROM {obj}", include_deleted=False):
        yield record["Id"]


def _parse_sf_datetime(text: str) -> datetime:
    """Salesforce's JSON dateTime (2024-03-05T10:20:30.000+0000) as an aware datetime."""
    return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S.%f%z")


def describe_fields(sf: Any, obj: str) -> dict[str, dict[str, Any]]:
    """{field: {"type", "precision", "scale"}} from the object's describe call."""
    body = getattr(sf, obj).describe()
    return {f["name"]: {"type": f.get("type"), "precision": int(f.get("precision") or 0),
                        "scale": int(f.get("scale") or 0)} for f in body.get("fields", [])}
