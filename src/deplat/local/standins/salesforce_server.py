"""A small local stand-in for the part of the Salesforce REST API the extractor uses.

No Salesforce emulator exists, so this is the one hand-written stand-in of the local stack. It speaks:

- OAuth 2.0 username-password flow: POST /services/oauth2/token -> access_token + instance_url;
- SOQL: GET /services/data/vXX.X/query?q=... and /queryAll?q=... (queryAll includes IsDeleted rows),
  with `WHERE <field> <op> <literal> [AND ...]`, `ORDER BY f [ASC|DESC], ...` and `LIMIT n`;
- queryMore paging: responses hold `pageSize` records and a `nextRecordsUrl` while not `done`;
- sObject create/update/delete: POST /sobjects/<Object>/, PATCH and DELETE /sobjects/<Object>/<Id>,
  so tests change records through the real client; every change bumps SystemModstamp and a delete
  only flags IsDeleted (the recycle bin: visible to queryAll only); `Org.create_late` makes a
  record visible with a SystemModstamp from the past (a long transaction committing late);
- describe: GET /sobjects/<Object>/describe (name, type, soapType, precision, scale per field);
- getDeleted: GET /sobjects/<Object>/deleted/?start=..&end=.. (the delete log, which outlives the
  recycle bin: `Org.purge` empties the bin as Salesforce does after 15 days or on demand); the
  log keeps 15 days, and a start more than 30 days back is refused (INVALID_REPLICATION_DATE).

The org is generated from a seed (same seed, same records) and lives in memory.

Usage: python -m deplat.local.standins.salesforce_server [--port 5058] [--page-size 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from deplat.core.context import Context

API_VERSION = "59.0"
DEFAULT_PORT = 5058
DEFAULT_PAGE_SIZE = 50
DEFAULT_SEED = 7

# The local org's connected app and user: fixed, fake, loopback only.
LOCAL_CREDENTIALS = {
    "client_id": "deplat-local-connected-app",
    "client_secret": "deplat-local-client-secret",
    "username": "integration@deplat.local",
    "password": "deplat-local-password",
    "security_token": "localtoken",
}

# Field name -> SOAP type, per object; the order is the describe order.
FIELDS: dict[str, dict[str, str]] = {
    "Account": {
        "Id": "id", "Name": "string", "Type": "picklist", "Industry": "picklist",
        "BillingCountry": "string", "AnnualRevenue": "currency", "NumberOfEmployees": "int",
        "CreatedDate": "datetime", "LastModifiedDate": "datetime", "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "Opportunity": {
        "Id": "id", "AccountId": "reference", "Name": "string", "StageName": "picklist",
        "Amount": "currency", "Probability": "percent", "CloseDate": "date", "IsClosed": "boolean",
        "IsWon": "boolean", "CreatedDate": "datetime", "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime", "IsDeleted": "boolean",
    },
}
# (precision, scale) of number-like fields, as describe reports them on a real org.
PRECISION: dict[tuple[str, str], tuple[int, int]] = {
    ("Account", "AnnualRevenue"): (18, 0), ("Account", "NumberOfEmployees"): (8, 0),
    ("Opportunity", "Amount"): (16, 2), ("Opportunity", "Probability"): (3, 0),
}
ID_PREFIX = {"Account": "001", "Opportunity": "006"}
READ_ONLY = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted", "IsClosed", "IsWon"}

_INDUSTRIES = ["Banking", "Retail", "Energy", "Technology", "Healthcare", "Manufacturing", "Media"]
_TYPES = ["Customer - Direct", "Customer - Channel", "Partner", "Prospect"]
_COUNTRIES = ["US", "DE", "FR", "GB", "JP", "CH", "CA", "AU"]
_STAGES = [("Prospecting", 10), ("Qualification", 20), ("Proposal/Price Quote", 75),
           ("Negotiation/Review", 90), ("Closed Won", 100), ("Closed Lost", 0)]
_SEED_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
# getDeleted's reach (REST "sObject Get Deleted"): results for no more than 15 days back; a start
# further back than 30 days is refused with INVALID_REPLICATION_DATE.
DELETE_LOG_DAYS = 15
GET_DELETED_MAX_DAYS = 30

_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<value>.+?)\s*$")
_DATETIME_LITERAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$")


class ApiError(Exception):
    """An error answered as Salesforce does: HTTP status + [{"message", "errorCode"}]."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def format_datetime(value: datetime) -> str:
    """Salesforce's JSON datetime: 2024-03-05T10:20:30.000+0000 (UTC, milliseconds)."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """A SOQL datetime literal or a Salesforce JSON datetime, as an aware UTC datetime."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(timezone.utc)


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    endpoint: str


class Org:
    """The in-memory org: records per object, query cursors, issued tokens. Thread-safe."""

    def __init__(self, seed: int = DEFAULT_SEED, accounts: int = 120, opportunities: int = 300,
                 page_size: int = DEFAULT_PAGE_SIZE):
        self.page_size = page_size
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}
        self.delete_log: dict[str, list[tuple[str, datetime]]] = {name: [] for name in FIELDS}
        self.log_purged_until: dict[str, datetime] = {}  # object -> deletedDate of the last purged log entry
        self.tokens: set[str] = set()
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.RLock()
        self._counters = {name: 0 for name in FIELDS}
        self._last_stamp = _SEED_START
        self._generate(seed, accounts, opportunities)

    # -- seed data --------------------------------------------------------------------------------

    def _new_id(self, obj: str) -> str:
        self._counters[obj] += 1
        return f"{ID_PREFIX[obj]}{self._counters[obj]:015d}"

    def _generate(self, seed: int, accounts: int, opportunities: int) -> None:
        rng = random.Random(seed)
        year_seconds = 365 * 24 * 3600
        account_ids = []
        for i in range(accounts):
            created = _SEED_START + timedelta(seconds=rng.randrange(year_seconds),
                                              milliseconds=rng.randrange(1000))
            modified = created + timedelta(hours=rng.randrange(0, 24 * 30))
            rec: dict[str, Any] = {
                "Id": self._new_id("Account"),
                "Name": f"Account {i + 1:04d} {rng.choice(['Ltd', 'Inc', 'GmbH', 'SA'])}",
                "Type": rng.choice(_TYPES), "Industry": rng.choice(_INDUSTRIES),
                "BillingCountry": rng.choice(_COUNTRIES),
                "AnnualRevenue": float(rng.randrange(100, 50_000) * 1000),
                "NumberOfEmployees": rng.randrange(5, 20_000),
                "CreatedDate": created, "LastModifiedDate": modified, "SystemModstamp": modified,
                "IsDeleted": False,
            }
            self.records["Account"][rec["Id"]] = rec
            account_ids.append((rec["Id"], created))
        for i in range(opportunities):
            account_id, account_created = rng.choice(account_ids)
            created = account_created + timedelta(seconds=rng.randrange(90 * 24 * 3600))
            modified = created + timedelta(hours=rng.randrange(0, 24 * 60))
            stage, probability = rng.choice(_STAGES)
            rec = {
                "Id": self._new_id("Opportunity"), "AccountId": account_id,
                "Name": f"Opportunity {i + 1:05d}",
                "StageName": stage, "Amount": round(rng.uniform(1_000, 250_000), 2),
                "Probability": float(probability),
                "CloseDate": (created + timedelta(days=rng.randrange(10, 180))).date(),
                "CreatedDate": created, "LastModifiedDate": modified, "SystemModstamp": modified,
                "IsDeleted": False,
            }
            _derive(rec)
            self.records["Opportunity"][rec["Id"]] = rec
        self._last_stamp = max(r["SystemModstamp"] for recs in self.records.values() for r in recs.values())

    def _stamp(self) -> datetime:
        # Strictly increasing at millisecond precision, so no two changes share a SystemModstamp.
        now = datetime.now(timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last_stamp = max(now, self._last_stamp + timedelta(milliseconds=1))
        return self._last_stamp

    # -- auth -------------------------------------------------------------------------------------

    def token(self, form: dict[str, str], instance_url: str) -> dict[str, Any]:
        expected = LOCAL_CREDENTIALS
        if form.get("grant_type") != "password":
            raise ApiError(400, "unsupported_grant_type", "grant type not supported")
        client = (form.get("client_id"), form.get("client_secret"))
        if client != (expected["client_id"], expected["client_secret"]):
            raise ApiError(400, "invalid_client_id", "client identifier invalid")
        if (form.get("username"), form.get("password")) != (
                expected["username"], expected["password"] + expected["security_token"]):
            raise ApiError(400, "invalid_grant", "authentication failure")
        access = "00Dlocal!" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(access)
        return {"access_token": access, "instance_url": instance_url, "token_type": "Bearer",
                "id": f"{instance_url}/id/00Dlocal/005local",
                "issued_at": str(int(datetime.now().timestamp() * 1000)),
                "signature": secrets.token_urlsafe(16)}

    def check_token(self, header: str | None) -> None:
        token = (header or "").removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    # -- SOQL -------------------------------------------------------------------------------------

    def query(self, soql: str, include_deleted: bool) -> dict[str, Any]:
        match = _SOQL.match(soql or "")
        if not match:
            raise ApiError(400, "MALFORMED_QUERY", f"unsupported SOQL: {soql!r}")
        obj = _object_name(match["object"])
        fields = [_field(obj, f.strip()) for f in match["fields"].split(",")]
        conditions = [_condition(obj, c) for c in re.split(r"\s+AND\s+", match["where"], flags=re.I)] \
            if match["where"] else []
        with self._lock:
            rows = [r for r in self.records[obj].values() if include_deleted or not r["IsDeleted"]]
            rows = [r for r in rows if all(_compare(r[f], op, v) for f, op, v in conditions)]
            for field, descending in reversed(_order(obj, match["order"])):
                rows.sort(key=_order_key(field), reverse=descending)
            if match["limit"]:
                rows = rows[: int(match["limit"])]
            out = [_render(obj, r, fields) for r in rows]
        endpoint = "queryAll" if include_deleted else "query"
        return self._page(_Cursor(out, endpoint), 0, len(out))

    def query_more(self, locator: str) -> dict[str, Any]:
        cursor_id, _, offset = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, int(offset), len(cursor.records), cursor_id)

    def _page(self, cursor: _Cursor, offset: int, total: int, cursor_id: str | None = None) -> dict[str, Any]:
        end = offset + self.page_size
        body: dict[str, Any] = {"totalSize": total, "done": end >= total,
                                "records": cursor.records[offset:end]}
        if end < total:
            if cursor_id is None:
                cursor_id = "01gLOCAL" + secrets.token_hex(6).upper()
                with self._lock:
                    self._cursors[cursor_id] = cursor
                    while len(self._cursors) > 100:
                        self._cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{API_VERSION}/{cursor.endpoint}/{cursor_id}-{end}"
        return body

    # -- DML --------------------------------------------------------------------------------------

    def create(self, obj: str, data: dict[str, Any]) -> str:
        obj = _object_name(obj)
        with self._lock:
            stamp = self._stamp()
            rec: dict[str, Any] = {f: None for f in FIELDS[obj]}
            rec.update({"Id": self._new_id(obj), "CreatedDate": stamp, "IsDeleted": False})
            self._apply(obj, rec, data, stamp)
            self.records[obj][rec["Id"]] = rec
            return rec["Id"]

    def create_late(self, obj: str, data: dict[str, Any], began_at: datetime) -> str:
        """Create a record that becomes visible only now with SystemModstamp `began_at`: what a
        long transaction or a sharing recalculation does on a real org (the stamp is taken when
        the work starts, the record is queryable once it commits), so a poller whose window has
        moved past `began_at` never sees it in its regular window."""
        obj = _object_name(obj)
        stamp = began_at.astimezone(timezone.utc)
        stamp = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
        with self._lock:
            rec: dict[str, Any] = {f: None for f in FIELDS[obj]}
            rec.update({"Id": self._new_id(obj), "CreatedDate": stamp, "IsDeleted": False})
            self._apply(obj, rec, data, stamp)
            self.records[obj][rec["Id"]] = rec
            return rec["Id"]

    def update(self, obj: str, record_id: str, data: dict[str, Any]) -> None:
        obj = _object_name(obj)
        with self._lock:
            rec = self._live(obj, record_id)
            self._apply(obj, rec, data, self._stamp())

    def delete(self, obj: str, record_id: str) -> None:
        obj = _object_name(obj)
        with self._lock:
            rec = self._live(obj, record_id)
            rec["IsDeleted"] = True
            rec["SystemModstamp"] = rec["LastModifiedDate"] = self._stamp()
            self.delete_log[obj].append((record_id, rec["SystemModstamp"]))

    def purge(self, obj: str, record_id: str) -> None:
        """Empty the recycle bin of one deleted record: queryAll no longer returns it."""
        obj = _object_name(obj)
        with self._lock:
            rec = self.records[obj].get(record_id)
            if rec is None or not rec["IsDeleted"]:
                raise ApiError(404, "NOT_FOUND", "no deleted record with that id")
            del self.records[obj][record_id]

    def deleted(self, obj: str, start: datetime, end: datetime) -> dict[str, Any]:
        """getDeleted: the delete log entries with start <= deletedDate <= end (seconds truncated).

        As Salesforce: a start more than GET_DELETED_MAX_DAYS back is refused with
        INVALID_REPLICATION_DATE; the log keeps DELETE_LOG_DAYS, older entries are purged, and
        earliestDateAvailable is the last purged entry's date (the org's start if none was).
        """
        obj = _object_name(obj)
        now = datetime.now(timezone.utc)
        if start >= end:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must precede endDate")
        if start < now - timedelta(days=GET_DELETED_MAX_DAYS):
            raise ApiError(400, "INVALID_REPLICATION_DATE",
                           f"startDate cannot be more than {GET_DELETED_MAX_DAYS} days ago")
        start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
        with self._lock:
            horizon = now - timedelta(days=DELETE_LOG_DAYS)
            purged = [d for _, d in self.delete_log[obj] if d < horizon]
            if purged:
                self.log_purged_until[obj] = max([self.log_purged_until.get(obj, _SEED_START), *purged])
                self.delete_log[obj] = [(i, d) for i, d in self.delete_log[obj] if d >= horizon]
            hits = [(i, d) for i, d in self.delete_log[obj]
                    if start <= d.replace(second=0, microsecond=0) <= end]
            earliest = self.log_purged_until.get(obj, _SEED_START)
        return {"deletedRecords": [{"id": i, "deletedDate": format_datetime(d)} for i, d in hits],
                "earliestDateAvailable": format_datetime(earliest), "latestDateCovered": format_datetime(end)}

    def describe(self, obj: str) -> dict[str, Any]:
        obj = _object_name(obj)
        fields = []
        for name, soap in FIELDS[obj].items():
            precision, scale = PRECISION.get((obj, name), (0, 0))
            fields.append({"name": name, "type": soap, "soapType": f"xsd:{soap}", "precision": precision,
                           "scale": scale})
        return {"name": obj, "fields": fields}

    def _live(self, obj: str, record_id: str) -> dict[str, Any]:
        rec = self.records[obj].get(record_id)
        if rec is None or rec["IsDeleted"]:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return rec

    def _apply(self, obj: str, rec: dict[str, Any], data: dict[str, Any], stamp: datetime) -> None:
        for name, value in data.items():
            field = _field(obj, name)
            if field in READ_ONLY:
                raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                               f"Unable to create/update fields: {field}")
            rec[field] = _coerce(FIELDS[obj][field], value)
        if obj == "Opportunity":
            _derive(rec)
        rec["LastModifiedDate"] = rec["SystemModstamp"] = stamp


def _derive(rec: dict[str, Any]) -> None:
    rec["IsClosed"] = rec.get("StageName") in ("Closed Won", "Closed Lost")
    rec["IsWon"] = rec.get("StageName") == "Closed Won"


def _object_name(name: str) -> str:
    for obj in FIELDS:
        if obj.lower() == name.lower():
            return obj
    raise ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")


def _field(obj: str, name: str) -> str:
    for field in FIELDS[obj]:
        if field.lower() == name.lower():
            return field
    raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj}'.")


def _coerce(kind: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if kind == "datetime":
            return parse_datetime(str(value))
        if kind == "date":
            return date.fromisoformat(str(value))
        if kind == "boolean":
            return value if isinstance(value, bool) else str(value).lower() == "true"
        if kind == "int":
            return int(value)
        if kind in ("currency", "percent", "double"):
            return float(value)
    except ValueError as exc:
        raise ApiError(400, "MALFORMED_QUERY" if kind == "datetime" else "INVALID_TYPE_ON_FIELD_IN_RECORD",
                       f"value not of required type: {value!r}") from exc
    return str(value)


def _condition(obj: str, text: str) -> tuple[str, str, Any]:
    match = _CONDITION.match(text)
    if not match:
        raise ApiError(400, "MALFORMED_QUERY", f"unsupported condition: {text!r}")
    field = _field(obj, match["field"])
    kind, raw = FIELDS[obj][field], match["value"]
    if kind == "datetime" and not _DATETIME_LITERAL.match(raw):
        raise ApiError(400, "MALFORMED_QUERY", f"value of filter criterion for field '{field}' must be "
                                               "of type dateTime and should not be enclosed in quotes")
    if raw.startswith("'") and raw.endswith("'"):
        raw = raw[1:-1].replace("\\'", "'")
    elif raw.lower() == "null":
        raw = None
    return field, match["op"], _coerce(kind, raw)


def _order(obj: str, text: str | None) -> list[tuple[str, bool]]:
    out = []
    for part in (text or "").split(","):
        words = part.split()
        if words:
            out.append((_field(obj, words[0]), len(words) > 1 and words[1].upper() == "DESC"))
    return out


def _order_key(field: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    """ORDER BY `field`'s sort key: NULLs sort before any value."""
    return lambda rec: (rec[field] is not None, rec[field])


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]


def _render(obj: str, rec: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {
        "type": obj, "url": f"/services/data/v{API_VERSION}/sobjects/{obj}/{rec['Id']}"}}
    for field in fields:
        value = rec[field]
        if isinstance(value, datetime):
            value = format_datetime(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[field] = value
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per request is noise here
        pass

    def _send(self, status: int, body: Any = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Sforce-Limit-Info", "api-usage=1/15000")
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self, method: str) -> None:
        org = self.server.org
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            if method == "POST" and url.path == "/services/oauth2/token":
                form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
                return self._send(200, org.token(form, self.server.instance_url))
            if parts[:2] == ["services", "data"] and len(parts) == 2 and method == "GET":
                return self._send(200, [{"label": "Local", "url": f"/services/data/v{API_VERSION}",
                                         "version": API_VERSION}])
            if parts[:2] != ["services", "data"] or len(parts) < 4 or not parts[2].startswith("v"):
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            org.check_token(self.headers.get("Authorization"))
            resource, rest = parts[3], parts[4:]
            if resource in ("query", "queryAll") and method == "GET":
                if rest:
                    return self._send(200, org.query_more(rest[0]))
                soql = parse_qs(url.query).get("q", [""])[0]
                return self._send(200, org.query(soql, include_deleted=resource == "queryAll"))
            if resource == "sobjects" and len(rest) == 2 and method == "GET" and rest[1] == "describe":
                return self._send(200, org.describe(rest[0]))
            if resource == "sobjects" and len(rest) == 2 and method == "GET" and rest[1] == "deleted":
                query = parse_qs(url.query)
                # an unencoded "+00:00" in the query string arrives as " 00:00"
                start, end = (parse_datetime(query[k][0].replace(" ", "+")) for k in ("start", "end"))
                return self._send(200, org.deleted(rest[0], start, end))
            if resource == "sobjects" and rest:
                data = json.loads(self._body() or b"{}") if method in ("POST", "PATCH") else {}
                if method == "POST" and len(rest) == 1:
                    return self._send(201, {"id": org.create(rest[0], data), "success": True, "errors": []})
                if method == "PATCH" and len(rest) == 2:
                    org.update(rest[0], rest[1], data)
                    return self._send(204)
                if method == "DELETE" and len(rest) == 2:
                    org.delete(rest[0], rest[1])
                    return self._send(204)
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        except ApiError as exc:
            if url.path == "/services/oauth2/token":
                return self._send(exc.status, {"error": exc.code, "error_description": exc.message})
            return self._send(exc.status, [{"message": exc.message, "errorCode": exc.code}])
        except ValueError as exc:
            return self._send(400, [{"message": str(exc), "errorCode": "JSON_PARSER_ERROR"}])

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], org: Org):
        super().__init__(address, _Handler)
        self.org = org
        self.instance_url = f"http://{address[0]}:{self.server_address[1]}"


def make_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT, org: Org | None = None) -> _Server:
    """A bound (not yet serving) stand-in; port 0 picks a free port (see `.instance_url`)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the Salesforce stand-in only listens on loopback")
    return _Server((host, port), org or Org())


def serve_in_thread(org: Org | None = None, port: int = 0) -> tuple[_Server, threading.Thread]:
    """Start a stand-in on a background thread (tests); stop it with `server.shutdown()`."""
    server = make_server(port=port, org=org)
    thread = threading.Thread(target=server.serve_forever, name="salesforce-standin", daemon=True)
    thread.start()
    return server, thread


# -- the stand-in's connection secret (deplat/<env>/salesforce) ------------------------------------

def salesforce_connection(settings) -> dict[str, str]:
    """The stand-in's connection settings (LocalStackSettings' port), in the shape
    deplat_job.sources.salesforce reads from the secret."""
    return {"login_url": f"http://127.0.0.1:{settings.salesforce_port}", **LOCAL_CREDENTIALS,
            "api_version": API_VERSION}


def put_secret(client: Any, name: str, value: dict[str, Any]) -> str:
    """Create the secret if absent, else add a version if the value changed.

    Returns the action: "created", "updated" or "unchanged". The value is never logged.
    """
    from deplat_job.sources.secret_store import write_secret

    return write_secret(client, name, value, create=True)[0]


def seed_secret(ctx: Context) -> dict[str, str]:
    """Store the stand-in's connection as `deplat/<env>/salesforce` (moto's Secrets Manager locally).

    Returns {"secret_name", "secret_action"}.
    """
    from deplat_job.sources.secret_store import secret_name

    name = secret_name(ctx.env.name, "salesforce")
    action = put_secret(ctx.aws.client("secretsmanager"), name, salesforce_connection(ctx.settings.local_stack))
    return {"secret_name": name, "secret_action": action}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--accounts", type=int, default=120)
    parser.add_argument("--opportunities", type=int, default=300)
    args = parser.parse_args(argv)
    org = Org(seed=args.seed, accounts=args.accounts, opportunities=args.opportunities,
              page_size=args.page_size)
    server = make_server(port=args.port, org=org)
    print(f"salesforce stand-in on {server.instance_url} (page size {args.page_size})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
