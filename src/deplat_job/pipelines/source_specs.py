"""Typed schemas of the Salesforce and DMS (RDS) tables, declared once.

Pure data (Spark SQL type names, no pyspark import). Bronze keeps the source's raw values as strings;
silver casts them to these types, and a value that does not cast sends its row to _errors.

Python 3.9-compatible: this module runs on the EMR runtime.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # silver column
    type: str  # Spark SQL type
    source: str  # field / column name at the source


@dataclass(frozen=True)
class SalesforceObject:
    """One sObject: API name, its bronze/silver tables and the silver schema."""

    name: str
    columns: tuple[Column, ...]
    key: str  # silver name of the Id column
    partition_column: str  # silver business date
    partition_source: str  # silver column the business date is derived from

    @property
    def bronze_table(self) -> str:
        return f"salesforce_{self.name.lower()}"

    @property
    def silver_table(self) -> str:
        return f"salesforce_{self.name.lower()}"

    @property
    def fields(self) -> tuple[str, ...]:
        """The SOQL field list (source names), IsDeleted last."""
        return tuple(c.source for c in self.columns) + ("IsDeleted",)


# A Salesforce currency/number/percent field: silver's decimal(precision, scale) comes from the
# field's describe (sized by the org, not guessed here); see pipelines.salesforce.sized_columns.
SIZED_BY_DESCRIBE = "decimal"


def _c(name: str, type_: str, source: str) -> Column:
    return Column(name, type_, source)


_SF_AUDIT = (
    _c("created_ts", "timestamp", "CreatedDate"),
    _c("last_modified_ts", "timestamp", "LastModifiedDate"),
    _c("system_modstamp", "timestamp", "SystemModstamp"),
)

SALESFORCE_OBJECTS: dict[str, SalesforceObject] = {
    o.name: o
    for o in (
        SalesforceObject(
            "Account",
            (
                _c("account_id", "string", "Id"),
                _c("name", "string", "Name"),
                _c("account_type", "string", "Type"),
                _c("industry", "string", "Industry"),
                _c("billing_country", "string", "BillingCountry"),
                _c("annual_revenue", SIZED_BY_DESCRIBE, "AnnualRevenue"),
                _c("number_of_employees", "int", "NumberOfEmployees"),
            ) + _SF_AUDIT,
            key="account_id", partition_column="created_date", partition_source="created_ts",
        ),
        SalesforceObject(
            "Opportunity",
            (
                _c("opportunity_id", "string", "Id"),
                _c("account_id", "string", "AccountId"),
                _c("name", "string", "Name"),
                _c("stage_name", "string", "StageName"),
                _c("amount", SIZED_BY_DESCRIBE, "Amount"),
                _c("probability", SIZED_BY_DESCRIBE, "Probability"),
                _c("close_date", "date", "CloseDate"),
                _c("is_closed", "boolean", "IsClosed"),
                _c("is_won", "boolean", "IsWon"),
            ) + _SF_AUDIT,
            key="opportunity_id", partition_column="created_date", partition_source="created_ts",
        ),
    )
}


@dataclass(frozen=True)
class DmsTable:
    """One replicated RDS table: where DMS lands it and the silver schema."""

    schema: str
    table: str
    key: tuple[str, ...]  # primary key (source = silver names)
    columns: tuple[Column, ...]
    partition_column: str
    partition_source: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def bronze_table(self) -> str:
        return f"dms_{self.schema}_{self.table}"

    @property
    def silver_table(self) -> str:
        return f"rds_{self.table}"


DMS_TABLES: dict[str, DmsTable] = {
    t.qualified: t
    for t in (
        DmsTable(
            "app", "customers", ("customer_id",),
            (
                _c("customer_id", "int", "customer_id"),
                _c("name", "string", "name"),
                _c("email", "string", "email"),
                _c("country", "string", "country"),
                _c("credit_limit", "decimal(12,2)", "credit_limit"),
                _c("created_at", "timestamp", "created_at"),
                _c("updated_at", "timestamp", "updated_at"),
            ),
            partition_column="created_date", partition_source="created_at",
        ),
        DmsTable(
            "app", "orders", ("order_id",),
            (
                _c("order_id", "bigint", "order_id"),
                _c("customer_id", "int", "customer_id"),
                _c("status", "string", "status"),
                _c("amount", "decimal(12,2)", "amount"),
                _c("order_date", "date", "order_date"),
                _c("updated_at", "timestamp", "updated_at"),
            ),
            partition_column="order_date", partition_source="order_date",
        ),
    )
}

# DMS S3-target columns ahead of the table's own (Op, TimestampColumnName, AR_H_CHANGE_SEQ-style seq).
DMS_OP = "Op"
DMS_TS = "_dms_ts"
DMS_SEQ = "_dms_seq"
# Special values PostgreSQL allows and DMS passes through as text, mapped to the ends of the Spark
# type's range (https://www.postgresql.org/docs/current/datatype-datetime.html, "Special Values").
# Any other value that does not type is an error row, never a silent null.
DMS_SPECIAL_VALUES: dict[str, dict[str, str]] = {
    "date": {"infinity": "9999-12-31", "-infinity": "0001-01-01"},
    "timestamp": {"infinity": "9999-12-31 23:59:59.999999", "-infinity": "0001-01-01 00:00:00"},
}


@dataclass(frozen=True)
class SnowflakeTracking:
    """How extraction finds the changed rows of one Snowflake table (config/deplat.yaml
    `snowflake.tables`, passed to the jobs as `--snowflake-tables <json>`).

    `rescan`: the table has no change-tracking column (TPC-H has none), so every run reads all of it
    in key-range chunks and bronze appends only the rows whose content differs from its latest
    version of the key (pipelines.snowflake.append_changed). This finds updates and rows committed
    late with keys anywhere in the range, at the cost of reading the table each run.

    `change_column`: the table has a column the source sets on every insert and update (e.g.
    UPDATED_AT, a TIMESTAMP_* or DATE). A run reads the rows whose change column is at or after
    bronze's maximum of it minus `lookback_seconds`: updated rows (any key) and rows committed late
    with a change value up to the lookback behind the watermark, whatever their key. The watermark
    is on the change column, never the key. Rows re-read inside the lookback equal bronze's latest
    version and are not appended again, so reruns are idempotent.

    `key`: the primary key (source column names) of a table not declared in table_schemas (its
    bronze/silver schema then follows the source's declared column types).
    """

    mechanism: str = "rescan"
    change_column: str | None = None
    lookback_seconds: int = 0
    key: tuple[str, ...] = ()


SNOWFLAKE_MECHANISMS = ("rescan", "change_column")

SNOWFLAKE_TRACKING: dict[str, SnowflakeTracking] = {
    name: SnowflakeTracking("rescan") for name in ("orders", "lineitem", "customer", "nation")
}


def parse_snowflake_tables(text: str | None) -> dict[str, SnowflakeTracking]:
    """`--snowflake-tables` JSON ({table: {tracking, change_column, lookback_seconds, key}}) as
    SnowflakeTracking per lower-case table name; None or empty: SNOWFLAKE_TRACKING (TPC-H, rescan).

    Raises ValueError naming the table and the field on a bad declaration."""
    import json

    if not text:
        return dict(SNOWFLAKE_TRACKING)
    raw = json.loads(text)
    if not isinstance(raw, dict) or not raw:
        raise ValueError("--snowflake-tables must be a non-empty JSON object of tables")
    out = {}
    for name, decl in raw.items():
        decl = decl or {}
        mechanism = decl.get("tracking", "change_column" if decl.get("change_column") else "rescan")
        if mechanism not in SNOWFLAKE_MECHANISMS:
            raise ValueError(f"snowflake table {name}: tracking must be one of {SNOWFLAKE_MECHANISMS}")
        column = decl.get("change_column")
        if (mechanism == "change_column") != bool(column):
            raise ValueError(f"snowflake table {name}: change_column is required with tracking "
                             "change_column and not allowed with rescan")
        lookback = int(decl.get("lookback_seconds", 0))
        if lookback < 0:
            raise ValueError(f"snowflake table {name}: lookback_seconds must be >= 0")
        key = tuple(str(k).lower() for k in decl.get("key", ()))
        out[str(name).lower()] = SnowflakeTracking(mechanism, column.lower() if column else None, lookback, key)
    return out
