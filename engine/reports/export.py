"""Write report sections as CSV, XLSX (constant memory) or JSON, streaming their rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from decimal import Decimal
from typing import IO, Iterator

from engine.reports.base import Section
from engine.values import iso

FORMATS = ("csv", "xlsx", "json")
# A spreadsheet treats a cell starting with one of these as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value, kind: str = "text") -> str:
    """Format one cell as `text` does, quoting text a spreadsheet would run as a formula."""
    cell = text(value, kind)
    if not isinstance(value, str):
        return cell  # numbers (a negative amount) stay numbers
    if cell.startswith(FORMULA_PREFIXES):
        cell = "'" + cell
    # The writer quotes only LF (its line end): a bare CR would start a new row and a new cell.
    return cell.replace("\r\n", "\n").replace("\r", "\n")


def text(value, kind: str = "text") -> str:
    """Format one cell as text: exact decimals (money with at least two places), ISO times."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        if kind == "money":
            cents = value.quantize(Decimal("0.01"))
            return str(cents) if cents == value else format(value.normalize(), "f")
        return format(value.normalize(), "f") if kind == "decimal" else str(value)
    return str(value)


def csv_lines(section: Section) -> Iterator[str]:
    """Yield the section as CSV text, a header line then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    kinds = [(c.key, c.kind) for c in section.columns]
    writer.writerow([c.label for c in section.columns])
    for n, row in enumerate(section.rows, 1):
        writer.writerow([safe_text(row.get(key), kind) for key, kind in kinds])
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_value(value, kind: str):
    """Return a JSON-ready cell: ints stay ints, decimals and times become exact strings."""
    if value is None or isinstance(value, (int, str)) and not isinstance(value, bool):
        return value
    return text(value, kind)


def json_lines(report, filters: dict, sections: list[Section]) -> Iterator[str]:
    """Yield the report as one JSON document, row by row."""
    head = {
        "report": report.name,
        "title": report.title,
        "filters": {k: json_value(v, "text") for k, v in filters.items()},
    }
    yield json.dumps(head)[:-1] + ', "sections": ['
    for i, section in enumerate(sections):
        kinds = [(c.key, c.kind) for c in section.columns]
        meta = {
            "name": section.name,
            "title": section.title,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in section.columns],
        }
        yield ("," if i else "") + json.dumps(meta)[:-1] + ', "rows": ['
        for n, row in enumerate(section.rows):
            yield ("," if n else "") + json.dumps({k: json_value(row.get(k), kind) for k, kind in kinds})
        yield "]}"
    yield "]}\n"


def _xlsx_cell(value, kind: str):
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        # A float holds 15 significant digits exactly; longer values stay exact as text.
        digits = value.normalize().as_tuple().digits
        return float(value) if len(digits) <= 15 else text(value, kind)
    return text(value, kind)


def write_xlsx(sections: list[Section], out: IO[bytes]) -> None:
    """Write every section as its own sheet, rows streamed (XlsxWriter constant memory)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(
        out, {"constant_memory": True, "in_memory": False, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    bold = book.add_format({"bold": True})
    for section in sections:
        sheet = book.add_worksheet(section.name[:31])
        for col, column in enumerate(section.columns):
            sheet.write_string(0, col, column.label, bold)
        for r, row in enumerate(section.rows, 1):
            for col, column in enumerate(section.columns):
                value = _xlsx_cell(row.get(column.key), column.kind)
                if isinstance(value, str):
                    sheet.write_string(r, col, value)
                else:
                    sheet.write_number(r, col, value)
    book.close()
