"""The `fxcrm` command: a Flask CLI group. Exit codes: 0 ok, 1 user error, 2 usage."""

from __future__ import annotations

import importlib
import sys
from typing import Iterator

import click
from flask.cli import FlaskGroup, with_appcontext  # noqa: F401

from engine import config as config_mod
from engine.cli_common import cli_actor, database, emit, emit_rows, fail
from engine.db import unit_of_work


def _create_app():
    return importlib.import_module("web").create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main():
    """fxcrm: the back office for FX/CFD brokers."""


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply the database migrations."""
    from engine.migrate import upgrade

    upgrade(config_mod.load().database_url, revision)
    click.echo(f"database at {revision}")


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst):
    """Run an rq worker with the scheduler (distributed mode)."""
    cfg = config_mod.load()
    if not cfg.distributed:
        fail("FXCRM_REDIS_URL is not set; the worker is only for distributed mode")
    from engine.processing.jobs import run_worker

    run_worker(cfg, burst=burst)


@main.command()
@click.option("--clients", default=40, show_default=True, help="How many demo clients.")
@click.option("--seed", default=7, show_default=True)
def demo(clients, seed):
    """Load the demo data set (staff logins and a realistic event history)."""
    from engine import demo as demo_mod

    summary = demo_mod.load(database(), clients=clients, seed=seed)
    click.echo(summary)


@main.group()
def users():
    """Staff accounts."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, help="admin, compliance, finance, support, sales, ib_ops or partner")
@click.option("--password", default=None, help="Generated and shown once if omitted.")
@click.option("--name", default=None)
@click.option("--ib", "ib_id", default=None, help="For partners: the IB id they belong to.")
def users_create(email, role, password, name, ib_id):
    """Create a staff account."""
    from engine.users import service

    try:
        with unit_of_work(database()) as session:
            _user, password = service.create(
                session, email=email, role=role, password=password, name=name, ib_id=ib_id, actor=cli_actor()
            )
    except service.UserError as exc:
        fail(str(exc))
    click.echo(f"created {email} ({role}); password: {password}")


def _change_user(email: str, change) -> object:
    """Apply `change(service, session, user, actor)` to the user `email` in one unit of work."""
    from engine.users import service

    try:
        with unit_of_work(database()) as session:
            user = service.get_by_email(session, email)
            if user is None:
                fail(f"no user {email}")
            return change(service, session, user, cli_actor())
    except service.UserError as exc:
        fail(str(exc))


@users.command("deactivate")
@click.argument("email")
@click.option("--reason", default=None)
def users_deactivate(email, reason):
    """Deactivate a user: their sessions and API tokens stop working at once."""
    _change_user(email, lambda svc, s, u, actor: svc.deactivate(s, u, actor=actor, reason=reason))
    click.echo(f"deactivated {email}")


@users.command("activate")
@click.argument("email")
@click.option("--reason", default=None)
def users_activate(email, reason):
    """Reactivate a user."""
    _change_user(email, lambda svc, s, u, actor: svc.activate(s, u, actor=actor, reason=reason))
    click.echo(f"activated {email}")


@users.command("role")
@click.argument("email")
@click.argument("role")
@click.option("--ib", "ib_id", default=None, help="For partners: the IB id they belong to.")
@click.option("--reason", default=None)
def users_role(email, role, ib_id, reason):
    """Change a user's role (ends their sessions)."""
    _change_user(email, lambda svc, s, u, actor: svc.set_role(s, u, role=role, ib_id=ib_id, actor=actor, reason=reason))
    click.echo(f"{email} is now {role}")


@users.command("reset-password")
@click.argument("email")
@click.option("--reason", default=None)
def users_reset_password(email, reason):
    """Set a temporary password (shown once) that must be changed at next login."""
    password = _change_user(email, lambda svc, s, u, actor: svc.reset_password(s, u, actor=actor, reason=reason))
    click.echo(f"temporary password for {email}: {password}")


@main.group()
def tokens():
    """API tokens."""


@tokens.command("list")
@click.argument("email")
def tokens_list(email):
    """List a user's API tokens (prefix, created, expires, last used, revoked)."""

    def lines(svc, s, user, _actor):
        return [_token_line(t) for t in svc.list_tokens(s, user)]

    for line in _change_user(email, lines):
        click.echo(line)


def _token_line(token) -> str:
    """Describe one API token on one tab-separated line."""

    def when(value):
        return f"{value:%Y-%m-%d %H:%M}" if value else "-"

    state = f"revoked {when(token.revoked_at)}" if token.revoked_at else "active"
    return "\t".join(
        [
            str(token.id),
            f"{token.prefix}...",
            f"created {when(token.created_at)}",
            f"expires {when(token.expires_at)}",
            f"last used {when(token.last_used_at)}",
            state,
        ]
    )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id):
    """Revoke an API token by id (see `fxcrm tokens list`)."""
    from engine.users import service

    try:
        with unit_of_work(database()) as session:
            service.revoke_token(session, token_id=token_id, actor=cli_actor())
    except service.UserError as exc:
        fail(str(exc))
    click.echo(f"revoked token {token_id}")


@tokens.command("create")
@click.argument("email")
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=1), help="Days until the token expires.")
def tokens_create(email, days):
    """Create an API token (shown once, stored hashed)."""
    from datetime import timedelta

    token = _change_user(
        email, lambda svc, s, u, actor: svc.create_token(s, u, lifetime=timedelta(days=days), actor=actor)
    )
    click.echo(token)


@main.group()
def events():
    """The event store."""


@events.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def events_ingest(file):
    """Store canonical events from a JSON-lines FILE and process them."""
    from engine.processing.ingest import ingest_lines

    with open(file, encoding="utf-8") as fh:
        total = sum(1 for _ in fh)
    with open(file, encoding="utf-8") as fh, click.progressbar(length=total, label="ingesting", file=sys.stderr) as bar:
        report = ingest_lines(database(), fh, progress=bar.update)
    click.echo(report.summary())
    for number, reason in report.rejected:
        click.echo(f"{file}:{number}: {reason}")
    if not report.ok:
        sys.exit(1)


@events.command("process")
def events_process():
    """Process every pending event now (also retries failed ones)."""
    from engine import processing
    from engine.processing import subjects

    stats = processing.process_all_pending(database())
    stats.add(subjects.process_due(database()))  # the staff members' events (sign-ins)
    click.echo(f"processed: {stats.processed}, failed: {stats.failed}, parked: {stats.parked}")


@events.command("parked")
@click.option("--json", "as_json", is_flag=True)
def events_parked(as_json):
    """List events whose processing failed repeatedly."""
    from engine.events.store import list_parked

    with unit_of_work(database()) as session:
        rows = [
            {"seq": e.seq, **e.envelope(), "attempts": e.attempts, "error": e.last_error} for e in list_parked(session)
        ]
    emit_rows(
        rows,
        as_json,
        lambda row: (
            f"{row['seq']} {row['source']}/{row['id']} {row['type']} "
            f"{row['client']} attempts={row['attempts']}: {row['error']}"
        ),
    )


@events.command("conflicts")
@click.option("--json", "as_json", is_flag=True)
def events_conflicts(as_json):
    """List event ids delivered again with different content (kept, never applied)."""
    from engine.events import conflicts

    with unit_of_work(database()) as session:
        rows = conflicts.list_conflicts(session)
    emit_rows(
        rows,
        as_json,
        lambda row: (
            f"{row['source']}/{row['id']}: {', '.join(row['differs'])} differ; "
            f"seen {row['times']} time(s), last {row['last_at']}"
        ),
        none="no conflicting events",
    )


@events.command("retry")
@click.argument("seq", type=int)
def events_retry(seq):
    """Put a parked event back in the queue and process it."""
    from engine import processing
    from engine.events.models import PARKED, PENDING, Event

    with unit_of_work(database()) as session:
        event = session.get(Event, seq)
        if event is None or event.status != PARKED:
            fail(f"no parked event {seq}")
        event.status, event.attempts, event.retry_at = PENDING, 0, None
        ref = event.client_ref
    stats = processing.process_client(database(), ref)
    click.echo(f"processed: {stats.processed}, failed: {stats.failed}, parked: {stats.parked}")


@main.group()
def tasks():
    """Tasks (inbox items)."""


@tasks.command("list")
@click.option("--queue", default=None)
@click.option("--status", default=None)
@click.option("--client", default=None)
@click.option("--rule", default=None)
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def tasks_list(queue, status, client, rule, limit, as_json):
    """List tasks, newest first."""
    from engine.tasks import service

    try:
        with unit_of_work(database()) as session:
            rows = [
                service.to_dict(t)
                for t in service.list_tasks(session, queue=queue, status=status, client=client, rule=rule, limit=limit)
            ]
    except service.TaskError as exc:
        fail(str(exc))
    emit_rows(
        rows,
        as_json,
        lambda t: (
            f"#{t['id']:<6} {t['queue']:<11} {t['status']:<11} {t['priority']:<7} {t['client'] or '-':<12} {t['title']}"
        ),
    )


@tasks.command("recount")
@click.option("--check", is_flag=True, help="Only report wrong counters; change nothing (exit 1 if any).")
def tasks_recount(check):
    """Rebuild the open-task counters the inbox counts read, from the tasks."""
    from engine.tasks.counters import rebuild

    with database().engine.begin() as conn:
        found = rebuild(conn, write=not check)
    for line in found.wrong:
        click.echo(f"wrong: {line}")
    state = "" if not found.wrong else " (left as they are)" if check else " (rebuilt)"
    click.echo(
        f"task counters: {found.open_tasks:,} open tasks in {found.rows:,} counter rows; "
        f"{len(found.wrong)} wrong{state}"
    )
    if check and found.wrong:
        sys.exit(1)


@main.group()
def clients():
    """Clients."""


@clients.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
def clients_show(ref, as_json):
    """Show the client profile."""
    from engine.clients import service

    with unit_of_work(database()) as session:
        client = service.get_by_ref(session, ref)
        if client is None:
            fail(f"no client {ref}")
        data = service.profile(session, client)
    emit(data, as_json, lambda profile: [_render_profile(profile)])


@clients.command("search")
@click.argument("text", required=False, default="")
@click.option("--status")
@click.option("--kyc-status")
@click.option("--funnel-stage")
@click.option("--risk")
@click.option("--country")
@click.option("--ib", help="The IB referral code the client signed up with.")
@click.option("--registered-from", help="YYYY-MM-DD")
@click.option("--registered-to", help="YYYY-MM-DD")
@click.option("--after", help="The cursor printed after a full page.")
@click.option("--json", "as_json", is_flag=True)
def clients_search(text, as_json, after, **options):
    """Find clients by part of the ref, e-mail, name, account id or referral code."""
    from engine.clients import search, service

    try:
        filters = search.parse_filters({"q": text, **options})
        with unit_of_work(database()) as session:
            rows, cursor = search.search(session, filters, after=after)
            found = [service.summary(c) for c in rows]
    except search.SearchError as error:
        fail(str(error))
    emit({"clients": found, "next": cursor}, as_json, lambda page: _search_lines(page, text))


def _search_lines(page: dict, text: str) -> Iterator[str]:
    """A page of search results as text: a line a client, then how many (and the next page's cursor)."""
    found, cursor = page["clients"], page["next"]
    for c in found:
        name = " ".join(x for x in (c["first_name"], c["last_name"]) if x)
        yield f"{c['ref']}  {name}  {c['email'] or '-'}  {c['status']}  {c['funnel_stage']}"
    yield (
        f"{len(found)} client(s)" + (f"; next page: --after {cursor}" if cursor else "")
        if found
        else f"no client matches {text!r}"
    )


def _render_profile(p: dict) -> str:
    lines = [
        f"{p['ref']}  {p.get('first_name') or ''} {p.get('last_name') or ''}".rstrip(),
        f"  status: {p['status']}   funnel: {p['funnel_stage']}   country: {p['country']}   type: {p['client_type']}",
        f"  KYC: {p['kyc'].get('status')}   risk: {p['risk']['category'] or '-'}",
    ]
    if p.get("next_step"):
        lines.append(f"  next step: {p['next_step']}")
    if p["wallets"]:
        lines.append("  wallets: " + ", ".join(f"{v} {k}" for k, v in p["wallets"].items()))
    lines.append(
        f"  tasks: {len(p['tasks'])} ("
        f"{sum(1 for t in p['tasks'] if t['status'] in ('open', 'in_progress', 'waiting'))} open)"
    )
    for t in p["tasks"][:10]:
        lines.append(f"    #{t['id']} [{t['status']}] {t['queue']}: {t['title']}")
    return "\n".join(lines)


def _add_plugins() -> None:
    """Add every domain's click groups (`commands` in its `cli` module, engine.domains)."""
    from engine.domains import import_each

    for mod in import_each("cli"):
        for command in getattr(mod, "commands", ()):
            main.add_command(command)


_add_plugins()

if __name__ == "__main__":
    main()
