"""A client's transaction timeline: payments, transfers, fees, account events and tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import service as accounts_service
from engine.payments import deposits, ledger, transfers, withdrawals
from engine.payments.models import Posting
from engine.tasks.models import Task
from engine.values import iso

LIMIT = 200
DEPOSIT_STAGES = (
    ("requested", "requested_at"),
    ("failed", "failed_at"),
    ("completed", "completed_at"),
    ("refunded", "refunded_at"),
    ("charged_back", "charged_back_at"),
)


def _item(at: datetime, kind: str, title: str, ref: str, **extra) -> dict:
    return {"at": at, "kind": kind, "title": title, "ref": ref, **extra}


def _money(amount, currency) -> str:
    return f"{ledger.fmt(amount)} {currency}"


def _deposit_items(session: Session, client_ref: str):
    for d in deposits.list_for(session, client_ref, LIMIT):
        for stage, column in DEPOSIT_STAGES:
            at = getattr(d, column)
            if at is None:
                continue
            amount = {"refunded": d.refund_amount, "charged_back": d.chargeback_amount}.get(stage, d.amount)
            why = f": {d.reason}" if stage in ("failed", "charged_back") and d.reason else ""
            yield _item(
                at,
                "deposit",
                f"Deposit {_money(amount, d.currency)} {stage.replace('_', ' ')}{why}",
                f"{d.provider}/{d.payment_id}",
                status=stage,
                amount=ledger.fmt(amount),
                currency=d.currency,
            )


def _withdrawal_items(session: Session, client_ref: str):
    for w in withdrawals.list_for(session, client_ref, LIMIT):
        money = dict(amount=ledger.fmt(w.amount), currency=w.currency)
        yield _item(
            w.requested_at,
            "withdrawal",
            f"Withdrawal {_money(w.amount, w.currency)} requested",
            w.withdrawal_id,
            status="requested",
            **money,
        )
        for d in w.decisions:
            why = f": {d.reason}" if d.reason else ""
            yield _item(
                d.at,
                "withdrawal",
                f"Withdrawal {w.withdrawal_id} {d.step} {d.decision} by {d.actor}{why}",
                w.withdrawal_id,
                status=d.decision,
                **money,
            )
        if w.status == "refused":
            yield _item(
                w.closed_at,
                "withdrawal",
                f"Withdrawal {w.withdrawal_id} refused: {w.reason}",
                w.withdrawal_id,
                status="refused",
                **money,
            )


def _transfer_items(session: Session, client_ref: str):
    for t in transfers.list_for(session, client_ref, LIMIT):
        why = f": {t.reason}" if t.reason else ""
        yield _item(
            t.occurred_at,
            "transfer",
            f"Transfer {_money(t.amount, t.currency)} {t.source} -> {t.destination} {t.status}{why}",
            t.transfer_id,
            status=t.status,
            amount=ledger.fmt(t.amount),
            currency=t.currency,
        )


def _fee_items(session: Session, client_ref: str):
    fees = session.scalars(
        select(Posting)
        .where(Posting.client_ref == client_ref, Posting.kind == "fee")
        .order_by(Posting.occurred_at.desc())
        .limit(LIMIT)
    )
    for p in fees:
        leg = next(e for e in p.entries if e.account.startswith("broker:fees:"))
        yield _item(
            p.occurred_at,
            "fee",
            f"Fee {_money(leg.amount, leg.currency)}: {p.memo}",
            p.key,
            amount=ledger.fmt(leg.amount),
            currency=leg.currency,
        )


def _account_items(session: Session, client_ref: str):
    for a in accounts_service.history(session, client_ref, LIMIT):
        yield _item(a.occurred_at, "account", a.summary, a.account_id, status=a.kind)


def _task_items(session: Session, client_ref: str):
    tasks = session.scalars(select(Task).where(Task.client_ref == client_ref).order_by(Task.id.desc()).limit(LIMIT))
    for t in tasks:
        yield _item(
            t.created_at, "task", f"Task opened in {t.queue}: {t.title}", str(t.id), status="open", queue=t.queue
        )
        if t.closed_at:
            yield _item(t.closed_at, "task", f"Task {t.status}: {t.title}", str(t.id), status=t.status, queue=t.queue)


SOURCES = (_deposit_items, _withdrawal_items, _transfer_items, _fee_items, _account_items, _task_items)


def timeline(session: Session, client_ref: str, limit: int = LIMIT) -> list[dict]:
    """Return the client's timeline, newest first."""
    items = [item for source in SOURCES for item in source(session, client_ref)]
    items.sort(key=lambda i: i["at"], reverse=True)
    return [{**i, "at": iso(i["at"])} for i in items[:limit]]
