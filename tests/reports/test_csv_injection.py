"""CSV exports neutralise spreadsheet formulas in provider-controlled text."""

import csv
import io
from decimal import Decimal

import pytest

from engine.reports import export
from engine.reports.base import Column, Section


def _rows(rows):
    section = Section(
        "s", "S", [Column("name", "Name"), Column("amount", "Amount", "money"), Column("count", "Count", "int")], rows
    )
    return list(csv.reader(io.StringIO("".join(export.csv_lines(section)))))[1:]


@pytest.mark.parametrize(
    "hostile", ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
)
def test_formula_prefixes_in_text_cells_are_quoted(hostile):
    [[name, _, _]] = _rows([{"name": hostile, "amount": Decimal("1.00"), "count": 1}])
    assert name == "'" + hostile.replace("\r", "\n")


def test_a_carriage_return_inside_a_cell_cannot_start_a_new_row():
    assert _rows([{"name": "a\r=1+1", "amount": Decimal("1"), "count": 1}])[0][0] == "a\n=1+1"


def test_numbers_stay_numbers():
    [[name, amount, count]] = _rows([{"name": "Ann", "amount": Decimal("-12.5"), "count": -3}])
    assert (name, amount, count) == ("Ann", "-12.50", "-3")


def test_xlsx_keeps_formula_text_as_a_string(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    section = Section("s", "S", [Column("name", "Name")], [{"name": "=1+1"}])
    path = tmp_path / "r.xlsx"
    with open(path, "wb") as fh:
        export.write_xlsx([section], fh)
    cell = openpyxl.load_workbook(path)["s"]["A2"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")
