"""`fxcrm reports NAME --format csv|xlsx|json [filters]`: the same figures as the pages."""

from __future__ import annotations

import sys

import click

from engine.reports import export
from engine.reports.base import REPORTS, ReportError, names, pick, run
from engine.reports.reading import read_session

# Every filter any report has; each report checks that the ones given are its own.
FILTER_OPTIONS = (
    "since",
    "until",
    "period",
    "by",
    "country",
    "source",
    "ib",
    "stuck_days",
    "currency",
    "provider",
    "method",
    "queue",
    "rule",
)


def _with_filters(command):
    for name in reversed(FILTER_OPTIONS):
        command = click.option(
            f"--{name.replace('_', '-')}", name, default=None, help="Report filter (see `fxcrm reports list`)."
        )(command)
    return command


def _list() -> None:
    for name in names():
        report = REPORTS[name]
        flags = " ".join(f"--{f.name.replace('_', '-')}" for f in report.filters)
        click.echo(f"{name}: {report.description}\n    sections: {', '.join(report.sections)}\n    filters: {flags}")


@click.command("reports")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(export.FORMATS), default="csv", show_default=True)
@click.option("--section", default=None, help="CSV: which section (default: the first); JSON/XLSX: only this one.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file (XLSX default: NAME.xlsx).",
)
@_with_filters
def reports_group(name, fmt, section, output, **raw):
    """Print report NAME (funnel, payments, ib, tasks/operations); NAME `list` lists them."""
    from engine.cli_common import database, fail

    if name == "list":
        _list()
        return
    try:
        with read_session(database()) as session:
            report, filters, sections = run(session, name, raw)
            if fmt == "csv" or section:
                sections = [pick(sections, section)]
            _write(name, fmt, report, filters, sections, output)
    except ReportError as exc:
        fail(str(exc))


def _write(name, fmt, report, filters, sections, output) -> None:
    if fmt == "xlsx":
        path = output or f"{name}.xlsx"
        with open(path, "wb") as fh:
            export.write_xlsx(sections, fh)
        click.echo(f"wrote {path}", err=True)
        return
    lines = export.csv_lines(sections[0]) if fmt == "csv" else export.json_lines(report, filters, sections)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)
    else:
        for chunk in lines:
            sys.stdout.write(chunk)


commands = [reports_group]
