"""Withdrawals: funds held at request, the approval chain from policy, paid, failed or rejected.

A pending withdrawal always stands at one step of its chain and says who that
step waits for: compliance, finance, client_documents or payment_provider.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from engine.accounts import service as accounts_service
from engine.audit import service as audit_service
from engine.errors import Conflict
from engine.clients.models import Client
from engine.events.models import Event
from engine.payments import ledger, policy
from engine.payments.models import Withdrawal, WithdrawalDecision
from engine.queries import newest_first
from engine.tasks import service as tasks_service
from engine.tasks.subjects import Subject
from engine.values import iso, utcnow

APPROVAL = ("compliance", "finance")
# Staff decisions are recorded as events from this source so rules can react (close
# tasks, notify); the projection skips them because the service already applied them.
STAFF_SOURCE = "fxcrm.staff"


class WithdrawalError(ValueError):
    """A withdrawal action is not allowed (the message says why)."""


class WithdrawalForbidden(WithdrawalError):
    """This person may not decide this step (their role is not an approver, or four eyes)."""


def get(session: Session, withdrawal_id: str) -> Withdrawal | None:
    """Return the withdrawal with this id, or None."""
    return session.scalar(select(Withdrawal).where(Withdrawal.withdrawal_id == withdrawal_id))


def _get_pending(session: Session, withdrawal_id: str) -> Withdrawal:
    withdrawal = get(session, withdrawal_id)
    if withdrawal is None:
        raise WithdrawalError(f"withdrawal {withdrawal_id} is unknown")
    if withdrawal.status != "pending":
        raise WithdrawalError(f"withdrawal {withdrawal_id} is {withdrawal.status}, not pending")
    return withdrawal


def _key(withdrawal: Withdrawal, what: str) -> str:
    return f"withdrawal:{withdrawal.withdrawal_id}:{what}"


def _source(session: Session, withdrawal: Withdrawal) -> str:
    if not withdrawal.account_id:
        return ledger.wallet(withdrawal.client_ref, withdrawal.currency)
    account = accounts_service.owned(session, withdrawal.client_ref, withdrawal.account_id)
    if account.currency != withdrawal.currency:
        raise ledger.LedgerError(
            f"trading account {account.account_id} is in {account.currency}, the withdrawal in {withdrawal.currency}"
        )
    return ledger.trading(account.account_id)


def _hold(session: Session, withdrawal: Withdrawal, *, covered: bool) -> None:
    ref, cur, amount = withdrawal.client_ref, withdrawal.currency, withdrawal.amount
    source = _source(session, withdrawal)
    if covered and source.startswith("wallet:"):
        legs = ledger.covered_debit(session, ref, cur, amount)  # money already left
    else:
        legs = [ledger.Leg(source, cur, -amount)]
    legs.append(ledger.Leg(ledger.hold(ref, cur), cur, amount))
    _post(session, withdrawal, "hold", withdrawal.requested_at, f"hold for withdrawal {withdrawal.withdrawal_id}", legs)


def _release(session: Session, withdrawal: Withdrawal, at: datetime) -> None:
    if not ledger.is_posted(session, _key(withdrawal, "hold")):
        return
    ref, cur, amount = withdrawal.client_ref, withdrawal.currency, withdrawal.amount
    legs = [ledger.Leg(ledger.hold(ref, cur), cur, -amount), ledger.Leg(_source(session, withdrawal), cur, amount)]
    _post(session, withdrawal, "release", at, f"release of withdrawal {withdrawal.withdrawal_id}", legs)


def _post(session: Session, withdrawal: Withdrawal, what: str, at: datetime, memo: str, legs: list[ledger.Leg]) -> None:
    """Post the withdrawal's `what` entry (hold, release, paid): once, as its key says."""
    ledger.post(
        session,
        key=_key(withdrawal, what),
        kind="withdrawal",
        client_ref=withdrawal.client_ref,
        legs=legs,
        occurred_at=at,
        memo=memo,
    )


def _steps(session: Session) -> dict[str, policy.Step]:
    return {s.id: s for s in policy.withdrawal_chain(session)}


def request(
    session: Session,
    *,
    client: Client,
    withdrawal_id: str,
    amount: Decimal,
    currency: str,
    requested_by: str,
    requested_at: datetime,
    method: str | None = None,
    account_id: str | None = None,
) -> Withdrawal:
    """Create a withdrawal and hold its funds; one that would overdraw is kept as refused."""
    ledger.lock_client(session, client.ref)  # already held by the processor; staff need it
    existing = get(session, withdrawal_id)
    if existing is not None:
        return existing
    if amount <= 0:
        raise WithdrawalError(f"a withdrawal amount must be positive, not {amount}")
    chain = [
        s.id
        for s in policy.withdrawal_chain(session)
        if s.applies(kyc_status=client.kyc_status, amount=amount, currency=currency)
    ]
    withdrawal = Withdrawal(
        withdrawal_id=withdrawal_id,
        client_ref=client.ref,
        amount=amount,
        currency=currency,
        method=method,
        account_id=account_id,
        status="pending",
        chain=chain,
        requested_by=requested_by,
        requested_at=requested_at,
        updated_at=utcnow(),
    )
    session.add(withdrawal)
    try:
        _hold(session, withdrawal, covered=False)
    except (ledger.LedgerError, accounts_service.AccountError) as exc:
        _close(withdrawal, "refused", str(exc), requested_at)
        return withdrawal
    _enter(session, withdrawal, 0)
    return withdrawal


def yield_to(session: Session, transfer) -> list[Withdrawal]:
    """Refuse the newer withdrawals whose holds keep an older wallet transfer waiting; return them.

    A transfer the platform reports has happened. Delivered late, it may find the wallet
    already held for withdrawals requested after it; in order it would have been posted
    first and those withdrawals, taken in request order, held only while covered. The
    ones that would have been refused are refused now and their holds released.
    """
    if (
        transfer.status != "waiting"
        or transfer.source != "wallet"
        or not (transfer.reason or "").startswith("waiting for funds")
    ):
        return []
    ref, cur = transfer.client_ref, transfer.currency
    newer = [
        w
        for w in session.scalars(
            select(Withdrawal)
            .where(
                Withdrawal.client_ref == ref,
                Withdrawal.currency == cur,
                Withdrawal.status == "pending",
                Withdrawal.account_id.is_(None),
                Withdrawal.requested_at > transfer.occurred_at,
            )
            .order_by(Withdrawal.requested_at, Withdrawal.id)
        )
        if ledger.is_posted(session, _key(w, "hold"))
    ]
    room = ledger.balance(session, ledger.wallet(ref, cur), cur) + sum(w.amount for w in newer) - transfer.amount
    if room < 0:
        return []  # not covered in order either: the transfer waits for funds
    refused = []
    for withdrawal in newer:
        if withdrawal.amount <= room:
            room -= withdrawal.amount
            continue
        reason = (
            f"insufficient funds: transfer {transfer.transfer_id} of {iso(transfer.occurred_at)}, "
            f"delivered late, came first"
        )
        _release(session, withdrawal, withdrawal.requested_at)
        _decide(withdrawal, "refused", "system", reason)
        _close(withdrawal, "refused", reason, withdrawal.requested_at)
        refused.append(withdrawal)
    return refused


def _close(withdrawal: Withdrawal, status: str, reason: str | None, at: datetime) -> None:
    session = object_session(withdrawal)
    if session is not None:
        _settle_step_task(session, withdrawal, f"withdrawal {status}" + (f": {reason}" if reason else ""))
    withdrawal.status, withdrawal.reason = status, reason
    withdrawal.step = withdrawal.waiting_for = None
    withdrawal.closed_at, withdrawal.updated_at = at, utcnow()


def _decide(
    withdrawal: Withdrawal, decision: str, actor: str, reason: str | None = None, event: str | None = None
) -> None:
    withdrawal.decisions.append(
        WithdrawalDecision(
            step=withdrawal.step or "-", decision=decision, actor=actor, reason=reason, at=utcnow(), event=event
        )
    )
    withdrawal.updated_at = utcnow()


def _enter(session: Session, withdrawal: Withdrawal, index: int) -> None:
    """Stand the withdrawal at chain step `index`, passing document steps already satisfied."""
    steps = _steps(session)
    while index < len(withdrawal.chain):
        step = steps.get(withdrawal.chain[index])
        if step is None:  # the policy lost a step since the request: skip it, visibly
            withdrawal.step = withdrawal.chain[index]
            _decide(withdrawal, "skipped", "policy", "step no longer in the policy")
            index += 1
            continue
        withdrawal.step, withdrawal.waiting_for = step.id, step.waits_for
        if step.waits_for == "client_documents" and _documents_in(session, withdrawal, step):
            _decide(withdrawal, "done", "client", "documents submitted")
            index += 1
            continue
        if step.waits_for in APPROVAL:
            _open_step_task(session, withdrawal, step)
        return
    withdrawal.step = withdrawal.waiting_for = None


def _step_task_key(withdrawal: Withdrawal, step: str) -> str:
    return step_task_key(withdrawal.withdrawal_id, step)


def _open_step_task(session: Session, withdrawal: Withdrawal, step: policy.Step) -> None:
    """Open the inbox task of a staff step, once even when processing runs again."""
    key = _step_task_key(withdrawal, step.id)
    amount = f"{ledger.fmt(withdrawal.amount)} {withdrawal.currency}"
    client = session.scalar(select(Client).where(Client.ref == withdrawal.client_ref))
    because = step.reasons(
        kyc_status=client.kyc_status if client else "not_started",
        amount=withdrawal.amount,
        currency=withdrawal.currency,
    )
    why = (
        f"Withdrawal {withdrawal.withdrawal_id} of {amount} requested by "
        f"{withdrawal.requested_by} waits for the {step.id} step of the approval chain "
        f"(rules/policy/withdrawals.yaml)"
        + (f" because {' and '.join(because)}" if because else "")
        + f"; {', '.join(step.approvers)} may approve or reject it. "
        f"The task closes when the step is decided."
    )
    tasks_service.create(
        session,
        queue=step.waits_for,
        client_ref=withdrawal.client_ref,
        title=f"Approve withdrawal {withdrawal.withdrawal_id} ({step.id} step)",
        open_key=key,
        trigger_key=key,
        description=why,
        explanation={"rule": "withdrawal-chain", "description": why},
        data={"withdrawal_id": withdrawal.withdrawal_id, "withdrawal_step": step.id},
        subject=Subject("withdrawal", withdrawal.withdrawal_id),
    )


def _settle_step_task(session: Session, withdrawal: Withdrawal, how: str) -> None:
    """Close the open task of the step the withdrawal leaves, saying how it was decided."""
    if not withdrawal.step:
        return
    task = tasks_service.get_open_by_key(session, _step_task_key(withdrawal, withdrawal.step))
    if task is not None:
        tasks_service.close_if_open(session, task, actor="system", resolution=f"{withdrawal.step} step: {how}")


def step_task_key(withdrawal_id: str, step: str) -> str:
    """Return the key that links a staff step of a withdrawal to its inbox task."""
    return f"withdrawal:{withdrawal_id}:{step}:task"


def _advance(session: Session, withdrawal: Withdrawal) -> None:
    last = withdrawal.decisions[-1] if withdrawal.decisions else None
    _settle_step_task(session, withdrawal, f"{last.decision} by {last.actor}" if last else "passed")
    _enter(session, withdrawal, withdrawal.chain.index(withdrawal.step) + 1)


def _documents_in(session: Session, withdrawal: Withdrawal, step: policy.Step) -> bool:
    submitted = session.scalars(
        select(Event.data).where(
            Event.client_ref == withdrawal.client_ref,
            Event.type == "kyc.document_submitted",
            Event.occurred_at >= withdrawal.requested_at,
        )
    )
    types = {data.get("document_type") for data in submitted}
    return set(step.documents) <= types


def _current(session: Session, withdrawal: Withdrawal, role: str | None) -> policy.Step:
    step = _steps(session).get(withdrawal.step or "")
    if step is None or step.waits_for not in APPROVAL:
        raise WithdrawalError(
            f"withdrawal {withdrawal.withdrawal_id} waits for {withdrawal.waiting_for}, not for an approval"
        )
    if role is not None and role not in step.approvers:
        raise WithdrawalForbidden(
            f"step {step.id} of withdrawal {withdrawal.withdrawal_id} is "
            f"decided by {', '.join(step.approvers)}, not {role}"
        )
    return step


def _check_actor(withdrawal: Withdrawal, actor: str) -> None:
    if not actor or not actor.strip():
        raise WithdrawalError("an approver must be named")
    if actor == withdrawal.requested_by:
        raise WithdrawalForbidden(
            f"{actor} requested withdrawal {withdrawal.withdrawal_id} and so cannot approve or reject it"
        )
    if any(d.actor == actor and d.decision == "approved" for d in withdrawal.decisions):
        raise WithdrawalForbidden(
            f"{actor} already approved a step of withdrawal "
            f"{withdrawal.withdrawal_id}; another person must decide this one"
        )


def _announce(session: Session, withdrawal: Withdrawal, verb: str, step: str, reason: str | None) -> None:
    from engine.events import store
    from engine.processing import ingest

    store.record(
        session,
        {
            "id": f"{withdrawal.withdrawal_id}:{step}:{verb}",
            "type": f"payment.withdrawal_{verb}",
            "source": STAFF_SOURCE,
            "occurred_at": iso(utcnow()),
            "client": withdrawal.client_ref,
            "data": {
                "withdrawal_id": withdrawal.withdrawal_id,
                "amount": str(withdrawal.amount),
                "currency": withdrawal.currency,
                "reason": f"{step}: {reason or verb}",
            },
        },
        via="staff",
    )
    database = session.info.get("database")
    if database is not None:
        ingest.schedule_touched(session, database)


class WithdrawalConflict(WithdrawalError, Conflict):
    """Someone else decided the withdrawal first (the message says what happened)."""


def _lock_pending(session: Session, withdrawal_id: str) -> Withdrawal:
    """Lock the client and the withdrawal, then re-read it from the database."""
    withdrawal = get(session, withdrawal_id)
    if withdrawal is None:
        raise WithdrawalError(f"withdrawal {withdrawal_id} is unknown")
    seen = (withdrawal.status, withdrawal.step)
    ledger.lock_client(session, withdrawal.client_ref)  # as the processor does
    # populate_existing: without it the session hands back the copy loaded before the
    # lock, and two deciders racing on one step would both see it pending.
    withdrawal = session.scalar(
        select(Withdrawal)
        .where(Withdrawal.id == withdrawal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    session.expire(withdrawal, ["decisions"])
    if (withdrawal.status, withdrawal.step) != seen:
        raise WithdrawalConflict(_what_happened(withdrawal, seen[1]))
    return _get_pending(session, withdrawal_id)


def _what_happened(withdrawal: Withdrawal, step: str | None) -> str:
    last = withdrawal.decisions[-1] if withdrawal.decisions else None
    done = f"{last.actor} {last.decision} step {last.step}" if last else "it changed"
    return f"withdrawal {withdrawal.withdrawal_id} was decided meanwhile ({done}); it is now {withdrawal.status}" + (
        f", waiting for {withdrawal.waiting_for}" if withdrawal.status == "pending" else ""
    )


def _staff_decides(
    session: Session, withdrawal_id: str, actor: str, role: str, decided: tuple[str, str], reason: str | None
) -> tuple[Withdrawal, policy.Step]:
    """Record `actor`'s decision of the withdrawal's current step, under its lock, and audit it.

    `decided` is the decision and its audit action (approved, withdrawal.approve); the
    step must be one `role` decides and `actor` neither requested it nor approved before.
    """
    withdrawal = _lock_pending(session, withdrawal_id)
    step = _current(session, withdrawal, role)
    _check_actor(withdrawal, actor)
    decision, action = decided
    _decide(withdrawal, decision, actor, reason)
    audit_service.record(
        session,
        actor=actor,
        action=action,
        target_type="withdrawal",
        target_id=withdrawal_id,
        reason=reason,
        detail={"step": step.id},
    )
    return withdrawal, step


def approve(session: Session, *, withdrawal_id: str, actor: str, role: str, note: str | None = None) -> Withdrawal:
    """Approve the withdrawal's current step as `actor` (maker-checker enforced)."""
    withdrawal, step = _staff_decides(session, withdrawal_id, actor, role, ("approved", "withdrawal.approve"), note)
    _advance(session, withdrawal)
    _announce(session, withdrawal, "approved", step.id, note)
    session.flush()
    return withdrawal


def reject(session: Session, *, withdrawal_id: str, actor: str, role: str, reason: str) -> Withdrawal:
    """Reject the withdrawal at its current step with a reason; the held funds go back."""
    if not reason or not reason.strip():
        raise WithdrawalError("a rejection needs a reason")
    withdrawal, step = _staff_decides(session, withdrawal_id, actor, role, ("rejected", "withdrawal.reject"), reason)
    _close(withdrawal, "rejected", reason, utcnow())
    _release(session, withdrawal, utcnow())
    _announce(session, withdrawal, "rejected", step.id, reason)
    session.flush()
    return withdrawal


def _decided(session: Session, event: str) -> bool:
    return session.scalar(select(WithdrawalDecision.id).where(WithdrawalDecision.event == event)) is not None


def provider_approved(session: Session, *, withdrawal_id: str, source: str, event: str, reason: str | None) -> None:
    """Apply an approval reported by the broker's systems: it passes the current approval step."""
    withdrawal = get(session, withdrawal_id)
    if withdrawal is None or withdrawal.status != "pending" or _decided(session, event):
        return  # unknown, closed, or this very approval replayed: nothing changes
    step = _steps(session).get(withdrawal.step or "")
    if step is None or step.waits_for not in APPROVAL:
        return
    _decide(withdrawal, "approved", f"system:{source}", reason, event)
    _advance(session, withdrawal)


def provider_rejected(session: Session, *, withdrawal_id: str, source: str, reason: str | None, at: datetime) -> None:
    """Apply a rejection reported by the broker's systems; the held funds go back."""
    withdrawal = get(session, withdrawal_id)
    if withdrawal is None or withdrawal.status != "pending":
        return
    reason = reason or f"rejected by {source}"
    _decide(withdrawal, "rejected", f"system:{source}", reason)
    _close(withdrawal, "rejected", reason, at)
    _release(session, withdrawal, at)


def paid(session: Session, *, client: Client, data: dict, amount: Decimal, source: str, at: datetime) -> Withdrawal:
    """Settle a withdrawal the provider paid (a paid report before the request creates it)."""
    withdrawal = request(
        session,
        client=client,
        withdrawal_id=data["withdrawal_id"],
        amount=amount,
        currency=data["currency"],
        requested_by=f"client:{client.ref}",
        requested_at=at,
        method=data.get("method"),
        account_id=data.get("account_id"),
    )
    if withdrawal.status == "paid":
        return withdrawal
    if withdrawal.status in ("rejected", "failed"):
        raise WithdrawalError(
            f"withdrawal {withdrawal.withdrawal_id} was {withdrawal.status}, "
            f"yet {source} reports it paid: resolve by hand"
        )
    if withdrawal.waiting_for not in (None, "payment_provider"):
        _decide(withdrawal, "paid_early", f"system:{source}", f"paid while waiting for {withdrawal.waiting_for}")
    _hold(session, withdrawal, covered=True)  # a refused request still paid out: cover it
    ref, cur = withdrawal.client_ref, withdrawal.currency
    legs = [
        ledger.Leg(ledger.hold(ref, cur), cur, -withdrawal.amount),
        ledger.Leg(ledger.broker("clearing", cur), cur, withdrawal.amount),
    ]
    _post(session, withdrawal, "paid", at, f"withdrawal {withdrawal.withdrawal_id} paid", legs)
    _decide(withdrawal, "done", f"system:{source}", "paid")
    _close(withdrawal, "paid", None, at)
    return withdrawal


def provider_failed(session: Session, *, withdrawal_id: str, source: str, reason: str | None, at: datetime) -> None:
    """Close a withdrawal the provider could not pay; the held funds go back."""
    withdrawal = get(session, withdrawal_id)
    if withdrawal is None or withdrawal.status not in ("pending",):
        if withdrawal is not None and withdrawal.status == "paid":
            raise WithdrawalError(
                f"withdrawal {withdrawal_id} was paid, yet {source} reports it failed: resolve by hand"
            )
        return
    _decide(withdrawal, "failed", f"system:{source}", reason)
    _close(withdrawal, "failed", reason or f"failed at {source}", at)
    _release(session, withdrawal, at)


def documents_submitted(session: Session, client_ref: str) -> None:
    """Move on the client's pending withdrawals that waited for documents now submitted."""
    for withdrawal in list_pending(session, client_ref):
        if withdrawal.waiting_for == "client_documents":
            _enter(session, withdrawal, withdrawal.chain.index(withdrawal.step))


def list_pending(session: Session, client_ref: str | None = None, waiting_for: str | None = None) -> list[Withdrawal]:
    """Return pending withdrawals (of a client, waiting for someone), oldest first."""
    stmt = select(Withdrawal).where(Withdrawal.status == "pending")
    if client_ref:
        stmt = stmt.where(Withdrawal.client_ref == client_ref)
    if waiting_for:
        stmt = stmt.where(Withdrawal.waiting_for == waiting_for)
    return list(session.scalars(stmt.order_by(Withdrawal.requested_at, Withdrawal.id)))


def search(
    session: Session,
    *,
    status: str | None = "pending",
    waiting_for: str | None = None,
    currency: str | None = None,
    requested_before: datetime | None = None,
    limit: int = 500,
) -> list[Withdrawal]:
    """Return withdrawals by status, step, currency and age, oldest first."""
    stmt = select(Withdrawal)
    for column, value in (
        (Withdrawal.status, status),
        (Withdrawal.waiting_for, waiting_for),
        (Withdrawal.currency, currency),
    ):
        if value:
            stmt = stmt.where(column == value)
    if requested_before is not None:
        stmt = stmt.where(Withdrawal.requested_at <= requested_before)
    return list(session.scalars(stmt.order_by(Withdrawal.requested_at, Withdrawal.id).limit(limit)))


def chain_view(session: Session, withdrawal: Withdrawal) -> list[dict]:
    """Return each step of the withdrawal's chain: who it waits for, its approvers, decisions."""
    steps, decisions = _steps(session), to_dict(withdrawal)["decisions"]
    return [
        {
            "step": step_id,
            "waits_for": steps[step_id].waits_for if step_id in steps else None,
            "approvers": list(steps[step_id].approvers) if step_id in steps else [],
            "current": withdrawal.status == "pending" and withdrawal.step == step_id,
            "decisions": [d for d in decisions if d["step"] == step_id],
        }
        for step_id in withdrawal.chain
    ]


def hold_state(session: Session, withdrawal: Withdrawal) -> str:
    """Say in words what the ledger holds for this withdrawal."""
    amount = f"{ledger.fmt(withdrawal.amount)} {withdrawal.currency}"
    if not ledger.is_posted(session, _key(withdrawal, "hold")):
        return "no funds were held (the request was refused)"
    if ledger.is_posted(session, _key(withdrawal, "release")):
        return f"{amount} was held and has been released back to {_source(session, withdrawal)}"
    if withdrawal.status == "pending":
        return f"{amount} is held on {ledger.hold(withdrawal.client_ref, withdrawal.currency)}"
    return f"{amount} was held and has left the hold ({withdrawal.status})"


def list_for(session: Session, client_ref: str, limit: int = 200) -> list[Withdrawal]:
    """Return a client's withdrawals, newest first."""
    return newest_first(session, Withdrawal, client_ref, Withdrawal.requested_at, limit)


def count_pending(session: Session, client_ref: str) -> int:
    """Return how many withdrawals of the client are pending."""
    return session.scalar(
        select(func.count())
        .select_from(Withdrawal)
        .where(Withdrawal.client_ref == client_ref, Withdrawal.status == "pending")
    )


def to_dict(withdrawal: Withdrawal) -> dict:
    """Return a withdrawal as JSON-ready data, with what it waits for and its decisions."""
    return {
        "id": withdrawal.withdrawal_id,
        "amount": ledger.fmt(withdrawal.amount),
        "currency": withdrawal.currency,
        "method": withdrawal.method,
        "account_id": withdrawal.account_id,
        "status": withdrawal.status,
        "step": withdrawal.step,
        "waiting_for": withdrawal.waiting_for,
        "chain": list(withdrawal.chain),
        "requested_by": withdrawal.requested_by,
        "reason": withdrawal.reason,
        "requested_at": iso(withdrawal.requested_at),
        "closed_at": iso(withdrawal.closed_at),
        "decisions": [
            {"step": d.step, "decision": d.decision, "actor": d.actor, "reason": d.reason, "at": iso(d.at)}
            for d in withdrawal.decisions
        ],
    }


def kyc_decided(session: Session, client_ref: str) -> list[Withdrawal]:
    """Pass the client's approval steps that applied only because KYC was not approved.

    Each pending withdrawal's current step is checked again with the client's KYC status
    now: a step whose `when` no longer holds is passed with a recorded decision.
    """
    pending = list_pending(session, client_ref)
    if not pending:  # most KYC decisions: no chain to read
        return []
    client = ledger.lock_client(session, client_ref)  # as a staff decision on the step does
    steps, moved = _steps(session), []
    for withdrawal in pending:
        step = steps.get(withdrawal.step or "")
        if (
            step is None
            or not step.kyc_not_approved
            or step.applies(kyc_status=client.kyc_status, amount=withdrawal.amount, currency=withdrawal.currency)
        ):
            continue
        _decide(withdrawal, "skipped", "policy", f"KYC is {client.kyc_status}: step {step.id} no longer applies")
        _advance(session, withdrawal)
        moved.append(withdrawal)
    session.flush()
    return moved
