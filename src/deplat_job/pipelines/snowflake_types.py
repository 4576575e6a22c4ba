"""Snowflake column types -> Spark types, and connector values -> Spark values, without loss.

The mapping is driven by the columns the source declares in `cursor.description` (the connector's
`ResultMetadata`: name, type_code, display_size, internal_size, precision, scale, is_nullable;
type codes per `snowflake.connector.constants.FIELD_ID_TO_NAME`). What the connector hands back
(snowflake/connector/converter.py, 3.x): FIXED -> int when scale is 0, else decimal.Decimal;
REAL -> float; TIMESTAMP_NTZ -> naive datetime; TIMESTAMP_LTZ -> datetime in the session time
zone; TIMESTAMP_TZ -> datetime with `pytz.FixedOffset(<the row's offset in minutes>)`;
VARIANT / OBJECT / ARRAY -> the JSON text as Snowflake serialised it (not parsed).

| Snowflake                 | Spark (bronze and silver)                                            |
|---------------------------|----------------------------------------------------------------------|
| NUMBER(p,s)               | DecimalType(p,s), also NUMBER(38,0): never a float, never a silent   |
|                           | narrowing (a narrower declared type, e.g. TPC-H's LongType keys, is  |
|                           | honoured and a value that does not fit is an error row)              |
| FLOAT/REAL                | DoubleType (Snowflake's FLOAT is a 64-bit double)                    |
| TIMESTAMP_NTZ             | TimestampNTZType: the wall-clock value, no time-zone shift           |
| TIMESTAMP_LTZ             | TimestampType: the instant (UTC internally, as Snowflake stores it)  |
| TIMESTAMP_TZ              | TimestampType (the instant) + `<col>_offset_minutes` IntegerType     |
| VARIANT/OBJECT/ARRAY      | StringType: Snowflake's JSON text, byte for byte                     |
| DATE, BOOLEAN, BINARY     | DateType, BooleanType, BinaryType                                    |
| TEXT                      | StringType;  TIME: StringType 'HH:MM:SS[.ffffff]' (Spark has no TIME)|

TIMESTAMP_TZ: Snowflake stores "UTC time together with an associated time zone offset"
(https://docs.snowflake.com/user-guide/date-time). Delta has no timestamp-with-offset type; the
instant stays a real TimestampType (comparable, filterable, min/max statistics, joins with LTZ
columns) and the offset sits beside it, so the source's local wall time is
`<col> + <col>_offset_minutes minutes` and nothing is lost. ISO text with the offset would keep
both but turn every comparison into a string parse. Python datetimes hold microseconds: the
connector itself truncates TIMESTAMP(9) nanoseconds, as do Spark's microsecond timestamps.

Python 3.9-compatible (EMR); imports pyspark types only (no JVM).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from pyspark.sql.types import (
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    TimestampNTZType,
    TimestampType,
)

OFFSET_SUFFIX = "_offset_minutes"

# snowflake.connector.constants.FIELD_ID_TO_NAME (stable since connector 1.x; checked with 3.18).
# Kept here so that the pure mapping needs no connector import; tests check it against the library.
FIELD_ID_TO_NAME = {
    0: "FIXED", 1: "REAL", 2: "TEXT", 3: "DATE", 4: "TIMESTAMP", 5: "VARIANT", 6: "TIMESTAMP_LTZ",
    7: "TIMESTAMP_TZ", 8: "TIMESTAMP_NTZ", 9: "OBJECT", 10: "ARRAY", 11: "BINARY", 12: "TIME",
    13: "BOOLEAN", 14: "GEOGRAPHY", 15: "GEOMETRY", 16: "VECTOR", 17: "MAP", 18: "FILE",
}
JSON_TEXT = ("VARIANT", "OBJECT", "ARRAY")
_INT_RANGE: dict[type[DataType], int] = {ShortType: 15, IntegerType: 31, LongType: 63}
_WIDE = Context(prec=80)


class UntypedValue(ValueError):
    """A source value that cannot be typed without loss; its message is the error row's reason."""


@dataclass(frozen=True)
class SourceColumn:
    """One column as the source declares it: lower-case name, Snowflake type name, p, s."""

    name: str
    kind: str
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True


def source_columns(description) -> list[SourceColumn]:
    """`cursor.description` (ResultMetadata or 7-tuples) as SourceColumns.

    Raises ValueError on a type code this mapping does not know (a newer server type)."""
    out = []
    for d in description:
        name, code, precision, scale = d[0], d[1], d[4], d[5]
        if code not in FIELD_ID_TO_NAME:
            raise ValueError(f"column {name}: unknown Snowflake type code {code}")
        nullable = bool(d[6]) if len(d) > 6 and d[6] is not None else True
        out.append(SourceColumn(str(name).lower(), FIELD_ID_TO_NAME[code], precision, scale, nullable))
    return out


def spark_fields(col: SourceColumn) -> list[StructField]:
    """The Spark field(s) that hold `col` without loss (two for TIMESTAMP_TZ: instant + offset).

    Raises ValueError for types with no lossless Spark form here (GEOGRAPHY, VECTOR, MAP, FILE...)."""
    kind = col.kind
    if kind == "FIXED":
        precision = col.precision if col.precision else 38
        return [StructField(col.name, DecimalType(precision, col.scale or 0), True)]
    simple = {"REAL": DoubleType(), "TEXT": StringType(), "DATE": DateType(), "BOOLEAN": BooleanType(),
              "BINARY": BinaryType(), "TIME": StringType(), "TIMESTAMP_NTZ": TimestampNTZType(),
              "TIMESTAMP": TimestampNTZType(), "TIMESTAMP_LTZ": TimestampType()}
    if kind in simple:
        return [StructField(col.name, simple[kind], True)]
    if kind in JSON_TEXT:
        return [StructField(col.name, StringType(), True)]
    if kind == "TIMESTAMP_TZ":
        return [StructField(col.name, TimestampType(), True),
                StructField(col.name + OFFSET_SUFFIX, IntegerType(), True)]
    raise ValueError(f"column {col.name}: Snowflake {kind} has no lossless mapping in deplat yet")


def convert(value: Any, target: DataType, source: SourceColumn | None = None) -> Any:
    """`value` as the connector returned it, made a value of Spark type `target` with nothing lost.

    `source` (when known) is the declared source column. Raises UntypedValue with the reason when
    the value would be rounded, overflow, shift in time or arrive as a binary float."""
    if value is None:
        return None
    kind = source.kind if source else None
    if isinstance(target, DecimalType):
        return _decimal(value, target)
    if type(target) in _INT_RANGE:
        whole = _whole_number(value, target)
        bits = _INT_RANGE[type(target)]
        if not -(2 ** bits) <= whole < 2 ** bits:
            raise UntypedValue(f"{whole} does not fit {target.simpleString()}")
        return whole
    if isinstance(target, TimestampNTZType):
        if not isinstance(value, dt.datetime) or value.tzinfo is not None:
            raise UntypedValue(f"expected a wall-clock timestamp (no time zone), got {value!r}")
        return value
    if isinstance(target, TimestampType):
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise UntypedValue(f"expected a timestamp with a time zone ({kind or 'instant'}), got {value!r}")
        return value.astimezone(dt.timezone.utc)
    if isinstance(target, DateType):
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise UntypedValue(f"expected a date, got {value!r}")
        return value
    if isinstance(target, StringType):
        if isinstance(value, str):
            return value
        if kind == "TIME" and isinstance(value, dt.time):
            return value.isoformat()
        raise UntypedValue(f"expected text{' (JSON)' if kind in JSON_TEXT else ''}, got {type(value).__name__}")
    if isinstance(target, DoubleType):
        if isinstance(value, bool) or not isinstance(value, (float, int)):
            raise UntypedValue(f"expected a number, got {value!r}")
        return float(value)
    if isinstance(target, BooleanType):
        if not isinstance(value, bool):
            raise UntypedValue(f"expected a boolean, got {value!r}")
        return value
    if isinstance(target, BinaryType):
        if not isinstance(value, (bytes, bytearray)):
            raise UntypedValue(f"expected bytes, got {type(value).__name__}")
        return bytes(value)
    raise UntypedValue(f"no conversion to {target.simpleString()}")


def offset_minutes(value: Any) -> int | None:
    """A TIMESTAMP_TZ value's own UTC offset in whole minutes (Snowflake keeps minutes)."""
    if value is None:
        return None
    offset = value.utcoffset() if isinstance(value, dt.datetime) else None
    if offset is None:
        raise UntypedValue(f"TIMESTAMP_TZ without an offset: {value!r}")
    seconds = offset.total_seconds()
    if seconds % 60:
        raise UntypedValue(f"offset of {seconds} s is not whole minutes")
    return int(seconds // 60)


def _decimal(value: Any, target: DecimalType) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise UntypedValue(f"{value!r} arrived as a binary float; NUMBER must stay exact")
    if not isinstance(value, (int, Decimal)):
        raise UntypedValue(f"expected a number, got {value!r}")
    exact = Decimal(value)
    if not exact.is_finite():
        raise UntypedValue(f"{value} is not a finite number")
    try:  # a context wide enough for 38 digits (the default one holds 28)
        quantized = exact.quantize(Decimal(1).scaleb(-target.scale), context=_WIDE)
    except InvalidOperation:
        raise UntypedValue(f"{value} does not fit {target.simpleString()}") from None
    if quantized != exact:
        raise UntypedValue(f"{value} would be rounded to scale {target.scale}")
    if len(quantized.as_tuple().digits) > target.precision and quantized != 0:
        raise UntypedValue(f"{value} does not fit {target.simpleString()}")
    return quantized


def _whole_number(value: Any, target: DataType) -> int:
    if isinstance(value, bool) or isinstance(value, float):
        raise UntypedValue(f"{value!r} arrived as a binary float; expected a whole number")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise UntypedValue(f"{value} is not a whole number for {target.simpleString()}")
        return int(value)
    if not isinstance(value, int):
        raise UntypedValue(f"expected a whole number, got {value!r}")
    return value


@dataclass
class TypedRows:
    rows: list[tuple]  # in the order of the target fields
    errors: list[tuple[str, str]]  # (the source row as JSON text, reason)


def type_rows(fields: list[StructField], columns: list[str], rows: list[tuple],
              sources: list[SourceColumn] | None = None) -> TypedRows:
    """Rows as read (values in `columns` order) typed into `fields`, matched by name.

    A field named `<col>_offset_minutes` beside a TIMESTAMP_TZ source column `<col>` gets that
    value's offset. A row with any value that does not type is an error row (its raw values as
    JSON and every reason), never a row with a silent null. Raises ValueError when a field has no
    source column."""
    import json

    by_name = {c: i for i, c in enumerate(columns)}
    declared = {c.name: c for c in (sources or [])}
    plan = []
    for f in fields:
        if f.name in by_name:
            plan.append((f, by_name[f.name], False))
        elif f.name.endswith(OFFSET_SUFFIX) and f.name[: -len(OFFSET_SUFFIX)] in by_name:
            plan.append((f, by_name[f.name[: -len(OFFSET_SUFFIX)]], True))
        else:
            raise ValueError(f"the source lacks column {f.name}")
    good, bad = [], []
    for row in rows:
        out, reasons = [], []
        for f, i, is_offset in plan:
            try:
                if is_offset:
                    out.append(offset_minutes(row[i]))
                else:
                    out.append(convert(row[i], f.dataType, declared.get(f.name)))
            except UntypedValue as exc:
                reasons.append(f"{f.name}: {exc}")
                out.append(None)
        if reasons:
            raw = {c: (None if row[i] is None else str(row[i])) for c, i in by_name.items()}
            bad.append((json.dumps(raw, sort_keys=True), "; ".join(reasons)))
        else:
            good.append(tuple(out))
    return TypedRows(good, bad)
