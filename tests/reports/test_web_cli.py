"""Pages, CSV, XLSX, JSON and the CLI give the same figures; roles see only what they may."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from html.parser import HTMLParser

import openpyxl
import pytest

from engine.db import unit_of_work
from engine.reports.base import REPORTS, names, run
from engine.reports.export import text
from web.formatting import cell
from engine.users.models import ROLES

# Who may open which report (every other role gets 403): the matrix under test.
ACCESS = {
    "funnel": {"admin", "compliance", "sales", "ib_ops"},
    "payments": {"admin", "compliance", "finance"},
    "ib": {"admin", "finance", "sales", "ib_ops", "partner"},
    "tasks": {"admin", "compliance", "finance", "sales", "ib_ops"},
    "operations": {"admin", "compliance", "finance", "sales", "ib_ops"},
}
INDEX = {"admin", "compliance", "finance", "sales", "ib_ops", "partner"}


class _Tables(HTMLParser):
    """Collect each report section's table body cells as text."""

    def __init__(self):
        super().__init__()
        self.tables, self.section, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "data-section" in attrs:
            self.section = attrs["data-section"]
            self.tables[self.section] = []
        elif tag == "tr" and self.section:
            self.row = []
        elif tag == "td" and self.row is not None and "data-key" in attrs:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row:
                self.tables[self.section].append(self.row)
            self.row = None


def _expected(database, name: str, form=text) -> dict[str, list[list[str]]]:
    with unit_of_work(database) as s:
        _r, _f, sections = run(s, name, {})
        return {sec.name: [[form(row.get(c.key), c.kind) for c in sec.columns] for row in sec.rows] for sec in sections}


def _xlsx_text(cell, expected: str) -> str:
    if cell is None:
        return ""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        # Numbers come back as floats: compare their exact decimal value to the text.
        return expected if Decimal(repr(cell)) == Decimal(expected) else repr(cell)
    return str(cell)


def test_access_matrix(as_role, data):
    for role in ROLES:
        c = as_role(role)
        assert c.get("/reports").status_code == (200 if role in INDEX else 403), role
        for name, allowed in ACCESS.items():
            for query in ("", "?format=csv", "?format=xlsx&section=" + REPORTS[name].sections[0]):
                r = c.get(f"/reports/{name}{query}")
                r.get_data()  # a download holds its database session until it is read
                assert r.status_code == (200 if role in allowed else 403), (role, name, query)
    assert "/reports/funnel" not in as_role("partner").get("/reports").get_data(as_text=True)


def test_partner_sees_only_its_own_ib(as_role, data):
    c = as_role("partner")  # linked to IB-1
    for section in ("ibs", "commissions", "trees", "tree_commissions", "reversals"):
        body = c.get(f"/reports/ib?format=csv&section={section}").get_data(as_text=True)
        assert {row[0] for row in list(csv.reader(io.StringIO(body)))[1:]} == {"IB-1"}, section
    trees = list(csv.reader(io.StringIO(c.get("/reports/ib?format=csv&section=trees").get_data(as_text=True))))
    assert trees[1][:3] == ["IB-1", "", "4"]  # the tree below it counts, in aggregate
    r = c.get("/reports/ib?ib=IB-2")
    assert r.status_code == 400 and "no IB &#39;IB-2&#39; that you may see" in r.get_data(as_text=True)
    page = as_role("compliance").get("/reports/tasks?format=csv&section=queues")
    assert [row[0] for row in csv.reader(io.StringIO(page.get_data(as_text=True)))] == ["Queue", "compliance"]


@pytest.mark.parametrize("name", ["funnel", "payments", "ib", "tasks"])
def test_same_figures_everywhere(name, as_role, runner, data, tmp_path):
    expected = _expected(data, name)
    readable = _expected(data, name, cell)  # the page shows the same values for reading
    report = REPORTS[name]
    assert list(expected) == list(report.sections) and any(expected.values())
    c = as_role("admin")
    page = _Tables()
    page.feed(c.get(f"/reports/{name}").get_data(as_text=True))
    book = openpyxl.load_workbook(io.BytesIO(c.get(f"/reports/{name}?format=xlsx").data), read_only=True)
    cli_xlsx = tmp_path / "out.xlsx"
    assert runner.invoke(["reports", name, "--format", "xlsx", "-o", str(cli_xlsx)]).exit_code == 0
    cli_book = openpyxl.load_workbook(cli_xlsx, read_only=True)
    as_json = json.loads(c.get(f"/reports/{name}?format=json").data)
    cli_json = json.loads(runner.invoke(["reports", name, "--format", "json"]).output)
    assert cli_json == as_json
    for i, (section, rows) in enumerate(expected.items()):
        download = c.get(f"/reports/{name}?format=csv&section={section}").get_data(as_text=True)
        cli = runner.invoke(["reports", name, "--section", section])
        assert cli.exit_code == 0 and cli.output == download
        assert list(csv.reader(io.StringIO(download)))[1:] == rows, section
        assert page.tables[section] == readable[section], section
        for sheet in (book[section], cli_book[section]):
            got = [
                [_xlsx_text(cell, want) for cell, want in zip(values, row)]
                for values, row in zip(list(sheet.values)[1:], rows)
            ]
            assert got == rows and sheet.max_row == len(rows) + 1, section
        json_rows = as_json["sections"][i]["rows"]
        assert [[text(r[c["key"]]) for c in as_json["sections"][i]["columns"]] for r in json_rows] == rows


def test_bad_input_is_a_clear_error(as_role, runner, data):
    c = as_role("admin")
    for url, message in (
        ("/reports/nope", "report &#39;nope&#39;: no such report"),
        ("/reports/funnel?since=2026-02-30", "filter since: not a date"),
        ("/reports/funnel?period=year", "filter period: &#39;year&#39; is not one of"),
        ("/reports/funnel?stuck_days=-1", "filter stuck_days: not a whole number"),
        ("/reports/payments?queue=x", "filter queue: not a filter of report"),
        ("/reports/tasks?since=2026-02-02&until=2026-02-01", "filter until: must be after"),
        ("/reports/tasks?format=pdf", "format &#39;pdf&#39;"),
        ("/reports/tasks?section=x&format=csv", "section &#39;x&#39;: no such section"),
    ):
        r = c.get(url)
        assert r.status_code == 400 and message in r.get_data(as_text=True), url
    for args, message in (
        (["nope"], "report 'nope': no such report"),
        (["funnel", "--since", "x"], "filter since: not a date"),
        (["ib", "--queue", "q"], "filter queue: not a filter of report 'ib'"),
        (["tasks", "--section", "x"], "section 'x': no such section"),
    ):
        result = runner.invoke(["reports", *args])
        assert result.exit_code == 1 and message in result.output, args
    listed = runner.invoke(["reports", "list"])
    assert listed.exit_code == 0 and all(f"{n}:" in listed.output for n in names())
