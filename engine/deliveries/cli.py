"""`fxcrm connectors ...`: replay provider files, list deliveries, run and retry read-backs."""

from __future__ import annotations

import sys
from datetime import timedelta

import click

import connectors
from engine.cli_common import cli_actor, emit_rows
from engine.cli_common import database as _database
from engine.cli_common import fail as _fail
from engine.db import unit_of_work
from engine.values import utcnow

REPLAYABLE = (*connectors.WEBHOOKS, "bank_camt054", "mt5")


def _echo_report(report, where: str = "") -> None:
    """Print a replay's or read-back's summary, then each of its problems (after `where`)."""
    click.echo(report.summary())
    for problem in report.problems:
        click.echo(f"{where}{problem}")


@click.group("connectors")
def connectors_group():
    """Provider connectors: replays and deliveries."""


@connectors_group.command("replay")
@click.argument("provider", type=click.Choice(REPLAYABLE))
@click.argument("file", type=click.File("rb"))
@click.option(
    "--server-offset", default=0.0, show_default=True, help="mt5: the trade server's offset from UTC, in hours."
)
@click.option("--server", default="", help="mt5: a server name to prefix event ids with.")
def replay(provider, file, server_offset, server):
    """Replay FILE through the same path as live traffic.

    Webhook providers: one raw webhook body per line (signatures are not checked: the
    file is trusted). bank_camt054: a camt.054 XML file. mt5: a deal export (JSON
    array, Web API answer or JSON lines).
    """
    from engine.deliveries import replay as replay_mod

    database, data = _database(), file.read()
    try:
        if provider == "bank_camt054":
            report = replay_mod.replay_camt054(database, data, utcnow())
        elif provider == "mt5":
            report = replay_mod.replay_mt5(database, data, server=server, offset=timedelta(hours=server_offset))
        else:
            report = replay_mod.replay_webhooks(database, provider, data.splitlines(), utcnow())
    except connectors.MalformedPayload as exc:
        _fail(f"{file.name}: {exc.reason}")
    _echo_report(report, f"{file.name}: ")
    if not report.ok:
        sys.exit(1)


@connectors_group.command("deliveries")
@click.option("--provider", default=None)
@click.option("--status", default=None, help="rejected, ignored, unmatched, pending, done or failed")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def deliveries(provider, status, limit, as_json):
    """List webhook deliveries that did not simply become events, newest first."""
    from engine.deliveries import service

    with unit_of_work(_database()) as session:
        rows = [
            service.to_dict(d) for d in service.list_deliveries(session, provider=provider, status=status, limit=limit)
        ]
    emit_rows(
        rows,
        as_json,
        lambda row: (
            f"#{row['id']:<6} {row['received_at']} {row['provider']:<12} "
            f"{row['status']:<9} {row['http_status']} {row['reason'] or ''}"
        ),
    )


@connectors_group.command("fetch")
def fetch():
    """Run the due read-backs (Onfido checks) now."""
    from engine.deliveries import fetches

    _echo_report(fetches.run_due(_database()))


@connectors_group.command("retry")
@click.argument("delivery", type=int)
def retry(delivery):
    """Run a kept delivery (unmatched, failed, rejected with a body) through intake again;
    a kept MT5 deal through the poller's normalization (as Retry on /wires does)."""
    from engine.deliveries import fetches, intake, mt5_retry, service, wires

    database = _database()
    with unit_of_work(database) as session:
        row = service.get(session, delivery)
        if row is None or row.body is None:
            _fail(f"no delivery {delivery} with a kept body")
        deal = mt5_retry.retryable(row)
        provider, body = row.provider, row.body.encode()
        if not deal and provider not in connectors.WEBHOOKS:
            _fail(f"delivery {delivery} is from {provider}: replay its file instead")
        if not deal:
            session.delete(row)  # intake records it again if it still cannot be used
    if deal:
        _retry_deal(database, delivery)
        return
    outcome = intake.accept(database, provider=provider, body=body, now=utcnow())
    if outcome.status == "pending":
        fetches.run_due(database)
    with unit_of_work(database) as session:  # a new row (and task) if it is still unmatched
        wires.close_task(session, delivery, "cli", f"retried with `fxcrm connectors retry`: {outcome.status}")
    click.echo(f"{outcome.status}" + (f": {outcome.reason}" if outcome.reason else ""))


def _retry_deal(database, delivery: int) -> None:
    from engine.deliveries import mt5_retry, wires

    try:
        with unit_of_work(database) as session:
            done = mt5_retry.retry(session, delivery_id=delivery, actor="cli")
    except wires.WireError as exc:
        _fail(f"still unmatched: {exc}")
    click.echo(f"{done.status}: {done.message}")


@connectors_group.group("link")
def link():
    """Tell fxcrm which client a provider's applicant is."""


@link.command("onfido")
@click.argument("applicant_id")
@click.argument("client_ref")
@click.option("--replace", is_flag=True, help="Move an applicant linked to another client.")
def link_onfido(applicant_id, client_ref, replace):
    """Link the Onfido APPLICANT_ID to CLIENT_REF (checks without a client tag use it)."""
    from engine.deliveries import applicants

    try:
        with unit_of_work(_database()) as session:
            row = applicants.link(
                session, applicant_id=applicant_id, client_ref=client_ref, actor="cli", replace=replace
            )
            click.echo(f"linked: onfido applicant {row.applicant_id} -> {row.client_ref}")
    except applicants.LinkConflict as exc:
        _fail(f"{exc}; pass --replace to move it")
    except applicants.LinkError as exc:
        _fail(str(exc))


@connectors_group.group("poll")
def poll():
    """Poll providers that have no webhooks."""


@poll.command("mt5")
@click.option("--once", is_flag=True, help="Poll once and exit (default: poll forever).")
@click.option(
    "--server", default="default", show_default=True, help="The trade server's name: the cursor is kept per server."
)
@click.option("--prefix-ids", is_flag=True, help="Prefix event ids with the server name (several servers, one fxcrm).")
@click.option("--server-offset", default=0.0, show_default=True, help="The trade server's offset from UTC, in hours.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between polls.")
def poll_mt5(once, server, prefix_ids, server_offset, interval):
    """Read new deals from the MT5 Web API at FXCRM_MT5_BASE_URL and store their events.

    Logs in as the manager FXCRM_MT5_MANAGER_LOGIN with FXCRM_MT5_MANAGER_PASSWORD
    (MetaQuotes' /api/auth/start and /api/auth/answer handshake) and reads the deals of
    every MT5 trading account fxcrm knows.
    """
    import time

    from connectors import mt5_webapi
    from engine.deliveries import mt5_poll

    database = _database()
    secret = database.config.secret
    try:
        api = mt5_webapi.WebApi(
            secret("MT5_BASE_URL") or "",
            login=secret("MT5_MANAGER_LOGIN") or "",
            password=secret("MT5_MANAGER_PASSWORD") or "",
            ca_file=secret("MT5_CA_FILE"),
        )
    except mt5_webapi.WebApiError as exc:
        _fail(f"{exc.reason} (set FXCRM_MT5_BASE_URL, FXCRM_MT5_MANAGER_LOGIN and FXCRM_MT5_MANAGER_PASSWORD)")
    options = {
        "api": api,
        "server": server,
        "prefix_ids": prefix_ids,
        "server_utc_offset": timedelta(hours=server_offset),
    }
    while True:
        try:
            report = mt5_poll.poll_once(database, **options)
        except (mt5_webapi.WebApiError, connectors.MalformedPayload) as exc:
            if once:
                _fail(f"{exc.reason} (cursor unchanged)")
            click.echo(f"error: {exc.reason} (cursor unchanged)", err=True)
        else:
            _echo_report(report)
        if once:
            api.close()
            return
        time.sleep(interval)


@click.group("documents")
def documents_group():
    """Client document files."""


@documents_group.command("fetch")
@click.argument("client_ref")
@click.option("--provider", type=click.Choice(("onfido", "sumsub")), required=True)
@click.option("--actor", default=None, help="Who fetches (default cli:<user>).")
def fetch_documents(client_ref, provider, actor):
    """Fetch CLIENT_REF's document files from its KYC provider into the document store."""
    from engine.deliveries import provider_documents

    try:
        report = provider_documents.fetch_documents(_database(), client_ref, provider, actor=cli_actor(actor))
    except provider_documents.ProviderDocumentsError as exc:
        _fail(str(exc))
    click.echo(report.summary())


commands = [connectors_group, documents_group]
