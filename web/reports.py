"""Report pages: `/reports` and `/reports/<name>` with filters, charts and CSV/XLSX/JSON."""

from __future__ import annotations

import tempfile
from itertools import islice

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from markupsafe import Markup

from engine.reports import access, export
from engine.reports.base import REPORTS, ReportError, get_report, names, parse_filters, pick
from engine.reports.charts import bar_chart
from engine.reports.reading import read_session
from web import database
from web.auth import current_user, requires

bp = Blueprint("reports", __name__)
PAGE_ROWS = 500
CONTROL_ARGS = ("format", "section")


def _raw_filters() -> dict:
    return {k: v for k, v in request.args.items() if k not in CONTROL_ARGS}


def _bad(message: str, report=None):
    return render_template("reports/error.html", message=message, report=report), 400


@bp.get("/reports")
@requires("reports.view")
def index():
    """List the reports this user may open."""
    user = current_user()
    seen, reports = set(), []
    for name in names():
        report = REPORTS[name]
        if report.name not in seen and access.may_view(user.role, report):
            seen.add(report.name)
            reports.append(report)
    return render_template("reports/index.html", reports=reports)


@bp.get("/reports/<name>")
@requires("reports.view")
def show(name):
    """Show report `name` as a page, or download it with ?format=csv|xlsx|json."""
    user = current_user()
    try:
        report = get_report(name)
    except ReportError as exc:
        return _bad(str(exc))
    try:
        scope = access.scope_for(user.role, user.ib_id, report)
    except access.Forbidden:
        abort(403)
    fmt = request.args.get("format", "html")
    if fmt not in ("html", *export.FORMATS):
        return _bad(f"format {fmt!r}: use html, {', '.join(export.FORMATS)}", report)
    section = request.args.get("section") or None
    if section and section not in report.sections:
        return _bad(
            f"section {section!r}: no such section of report {report.name!r} "
            f"(its sections: {', '.join(report.sections)})",
            report,
        )
    try:
        filters = parse_filters(report, _raw_filters())
        # Read only: a plain session, kept open while a download streams its rows.
        session = read_session(database())
        try:
            sections = report.build(session, filters=filters, scope=scope)
        except BaseException:
            session.close()
            raise
    except ReportError as exc:
        return _bad(str(exc), report)
    if fmt == "html":
        try:
            return _page(report, filters, sections)
        finally:
            session.close()
    return _download(report, filters, sections, fmt, section, session)


def _page(report, filters: dict, built):
    sections = []
    for section in built:
        rows = list(islice(section.rows, PAGE_ROWS + 1))
        sections.append(
            {
                "section": section,
                "rows": rows[:PAGE_ROWS],
                "more": len(rows) > PAGE_ROWS,
                "chart": Markup(bar_chart(section, rows)),
            }
        )
    return render_template(
        "reports/report.html", report=report, filters=filters, raw=_raw_filters(), sections=sections, text=export.text
    )


def _download(report, filters: dict, sections, fmt: str, section: str | None, session):
    """Stream the download; the session stays open until the response is closed."""
    chosen = [pick(sections, section)] if section else sections
    name = f"{report.name}-{section}" if section else report.name

    def generate():
        try:
            if fmt == "csv":
                yield from export.csv_lines(pick(sections, section))
            elif fmt == "json":
                yield from export.json_lines(report, filters, chosen)
            else:
                with tempfile.TemporaryFile() as fh:
                    export.write_xlsx(chosen, fh)
                    fh.seek(0)
                    while chunk := fh.read(64 * 1024):
                        yield chunk
        finally:
            session.close()  # as soon as the last row is read, not when the client is done

    if fmt == "csv":
        response = Response(
            stream_with_context(generate()),
            mimetype="text/csv",
            headers=_attachment(f"{report.name}-{section or report.sections[0]}.csv"),
        )
    elif fmt == "xlsx":
        response = Response(
            stream_with_context(generate()),
            headers=_attachment(f"{name}.xlsx"),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        response = Response(stream_with_context(generate()), mimetype="application/json")
    # And when the server closes the response, sent in full or not (closing twice is fine).
    response.call_on_close(session.close)
    return response


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
