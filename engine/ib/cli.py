"""`fxcrm ib ...`: IBs, configuration check, attribution, commission review and payout batches."""

from __future__ import annotations

import click

from engine import config as config_mod
from engine.cli_common import cli_actor, database, emit, fail
from engine.db import unit_of_work
from engine.ib import commissions, config as ib_config, payouts, performance, tree
from engine.ib.errors import IbError
from engine.ib.profile import own_ib
from engine.ib.service import config_for
from engine.ib.yamlconf import IbConfigError
from engine.values import ValueError_, iso, parse_decimal, utcnow

ACTOR = click.option("--by", "actor", default=None, help="Who does this (default: cli:<login>).")


def _run(work):
    """Run `work(session)` in one unit of work; a refused operation exits 1 with nothing applied."""
    try:
        with unit_of_work(database()) as session:
            return work(session)
    except (IbError, IbConfigError, ValueError_) as exc:
        fail(str(exc))


@click.group("ib")
def ib():
    """Introducing brokers: tree, attribution, commissions and payouts."""


@ib.command("check")
@click.argument("rules_dir", required=False)
def check(rules_dir):
    """Validate the IB profiles, qualification policies and attribution policy."""
    directory = rules_dir or config_mod.load().rules_dir
    try:
        cfg = ib_config.load(directory)
    except IbConfigError as exc:
        fail(str(exc))
    click.echo(f"ok: {len(cfg.profiles)} profiles, {len(cfg.policies)} policies, version {cfg.version}")


@ib.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_ibs(as_json):
    """List every IB with its parent, code and profile."""
    data = _run(lambda s: [own_ib(s, i) for i in tree.list_ibs(s)])
    emit(
        data,
        as_json,
        lambda rows: (
            f"{r['ib_id']:<14} parent={r['parent_ib'] or '-':<14} code={r['referral_code']:<12} profile={r['profile']}"
            for r in rows
        ),
    )


@ib.command("show")
@click.argument("ib_id")
@click.option("--json", "as_json", is_flag=True)
def show(ib_id, as_json):
    """Show an IB: its record, its sub-tree and performance figures."""

    def work(s):
        found = tree.get(s, ib_id)
        if found is None:
            raise IbError(f"no IB {ib_id}")
        below = tree.subtree(s, ib_id)
        return {**own_ib(s, found), "tree": below, "performance": performance.figures(s, below)}

    data = _run(work)
    emit(
        data,
        as_json,
        lambda d: (
            [
                f"{d['ib_id']} code={d['referral_code']} profile={d['profile']}",
                f"  link: {d['referral_link']}",
                f"  tree: {', '.join(d['tree'])}",
            ]
            + [
                f"  {p['ib_id']}: {p['registrations']} registered, {p['funded_clients']} funded, "
                f"{p['volume_lots']} lots, commissions {p['commissions']}"
                for p in d["performance"]
            ]
        ),
    )


@ib.command("attribute")
@click.argument("client_ref")
@click.argument("ib_id")
@click.option("--reason", required=True, help="Why the client changes IB (kept in its history).")
@ACTOR
def attribute(client_ref, ib_id, reason, actor):
    """Attribute a client to an IB by hand (overrides the conflict policy, recorded with who/why)."""

    def work(s):
        from engine.clients import service as clients_service
        from engine.ib.evaluate import after_attribution

        if clients_service.get_by_ref(s, client_ref) is None:
            raise IbError(f"no client {client_ref}")
        entry = tree.attribute(
            s,
            client_ref=client_ref,
            ib_id=ib_id,
            source="manual",
            actor=cli_actor(actor),
            reason=reason,
            at=utcnow(),
            key=f"manual:{client_ref}:{utcnow().isoformat()}",
            config=config_for(s),
        )
        if entry is None:
            return "unchanged"
        if entry.outcome == "refused":
            raise IbError(entry.reason)
        after_attribution(s, client_ref)
        return f"{entry.outcome}: {client_ref} -> {ib_id}"

    click.echo(_run(work))


@ib.command("commissions")
@click.option("--ib", "ib_id", default=None)
@click.option("--client", "client_ref", default=None)
@click.option("--status", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_commissions(ib_id, client_ref, status, as_json):
    """List commissions, newest first."""
    data = _run(
        lambda s: [
            commissions.to_dict(c)
            for c in commissions.list_commissions(
                s, ib_ids=[ib_id] if ib_id else None, client_ref=client_ref, status=status
            )
        ]
    )
    emit(
        data,
        as_json,
        lambda rows: (
            f"#{r['id']:<5} {r['status']:<15} {r['ib']:<12} {r['client'] or '-':<10} {r['type']:<12} "
            f"{r['amount']} {r['currency']}  {r['reason'] or r['explanation'].get('computation', '')}"
            for r in rows
        ),
    )


@ib.command("approve")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--note", default=None)
@ACTOR
def approve(ids, note, actor):
    """Approve commissions under review (all or none)."""
    _run(lambda s: [payouts.approve(s, commission_id=i, actor=cli_actor(actor), note=note) for i in ids])
    click.echo(f"approved: {', '.join(map(str, ids))}")


@ib.command("reject")
@click.argument("commission_id", type=int)
@click.option("--reason", required=True)
@ACTOR
def reject(commission_id, reason, actor):
    """Reject a commission (and what was derived from it) with a reason."""
    done = _run(
        lambda s: [r.id for r in payouts.reject(s, commission_id=commission_id, actor=cli_actor(actor), reason=reason)]
    )
    click.echo(f"rejected: {', '.join(map(str, done))}")


@ib.command("adjust", context_settings={"ignore_unknown_options": True})  # AMOUNT may be -50
@click.argument("ib_id")
@click.argument("amount")
@click.argument("currency")
@click.option("--reason", required=True)
@click.option("--client", "client_ref", default=None)
@ACTOR
def adjust(ib_id, amount, currency, reason, client_ref, actor):
    """Record an adjustment (AMOUNT may be negative) for an IB, pending review."""
    record_id = _run(
        lambda s: (
            commissions.adjust(
                s,
                ib_id=ib_id,
                amount=parse_decimal(amount, "amount"),
                currency=currency.upper(),
                reason=reason,
                actor=cli_actor(actor),
                client_ref=client_ref,
            ).id
        )
    )
    click.echo(f"adjustment #{record_id} recorded, pending review")


@ib.command("reverse")
@click.argument("commission_id", type=int)
@click.option("--reason", required=True)
@ACTOR
def reverse(commission_id, reason, actor):
    """Reverse a commission and its overrides with new records."""

    def work(s):
        record = commissions.get(s, commission_id)
        if record is None:
            raise IbError(f"no commission {commission_id}")
        return [r.id for r in commissions.reverse(s, record, reason=reason, actor=cli_actor(actor))]

    done = _run(work)
    click.echo(f"reversals: {', '.join(map(str, done)) or 'none (already reversed)'}")


@ib.group("payouts")
def payouts_group():
    """Payout batches."""


@payouts_group.command("create")
@click.option("--currency", default="USD", show_default=True)
@ACTOR
def payouts_create(currency, actor):
    """Batch every approved commission in CURRENCY and open a finance task to pay it."""
    text = _run(
        lambda s: (lambda b: f"batch #{b.id}: {b.total} {b.currency}, finance task #{b.task_id}")(
            payouts.create_batch(s, actor=cli_actor(actor), currency=currency.upper())
        )
    )
    click.echo(text)


@payouts_group.command("paid")
@click.argument("batch_id", type=int)
@click.option("--reference", required=True, help="The bank or PSP payment reference.")
@ACTOR
def payouts_paid(batch_id, reference, actor):
    """Mark a batch paid: its commissions become paid and its task is done."""
    _run(lambda s: payouts.mark_paid(s, batch_id=batch_id, actor=cli_actor(actor), reference=reference))
    click.echo(f"batch #{batch_id} paid")


@payouts_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def payouts_list(as_json):
    """List payout batches, newest first."""
    data = _run(
        lambda s: [
            {
                "id": b.id,
                "status": b.status,
                "total": str(b.total),
                "currency": b.currency,
                "task_id": b.task_id,
                "created_at": iso(b.created_at),
                "reference": b.reference,
            }
            for b in payouts.list_batches(s)
        ]
    )
    emit(
        data,
        as_json,
        lambda rows: (f"#{r['id']} {r['status']:<5} {r['total']} {r['currency']} task #{r['task_id']}" for r in rows),
    )


commands = [ib]
