"""The set-based form of the deposit and transfer projections (engine.processing.batch).

For a group of clients: one query each for the deposits, transfers and trading accounts
the group's events name, the ledger keys they could post, the balances of the wallets
they touch, and the clients with transfers waiting for funds. Each event is applied in
memory with the functions the per-event projections call (`deposits.change` and
`credit`, `transfers.to_post` and `outcome`, `ledger.decide` and `rows`), against that
state; new deposits, transfers and ledger entries are inserted in bulk (engine.bulk),
postings with their new ids returned; changed rows that were loaded go with the flush.

An event is taken only when the state tells exactly what the per-event projection would
do. Left to the per-event path: an event that would fail (it is isolated there); a client
with transfers waiting for funds (each projection ends by trying them); a transfer that
would wait (funds or account not there yet); a deposit whose settlement takes money back
(a refund or chargeback: how much the wallet covers, what was reversed already) or funds
an account (the client's auto-funding); and every withdrawal event
(approval chains, KYC and documents steps, holds). The rules read the deposit facts from
this state (engine.payments.batch_facts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine.accounts.models import TradingAccount
from engine.bulk import insert_rows
from engine.clients.funnel import advance
from engine.db import money_sum
from engine.payments import deposits, ledger, transfers
from engine.payments.batch_facts import DepositTotals, load_totals
from engine.payments.models import Deposit, LedgerEntry, Posting, Transfer, Withdrawal
from engine.values import parse_decimal

DEPOSIT_EVENTS = {f"payment.deposit_{s}": s for s in ("requested", "completed", "failed", "refunded", "charged_back")}
TRANSFER_COMPLETED = "wallet.transfer_completed"
TRANSFER_FAILED = "wallet.transfer_failed"
TRANSFER_EVENTS = (TRANSFER_COMPLETED, TRANSFER_FAILED)
KYC_EVENTS = ("kyc.document_submitted", "kyc.review_completed")


def transfer_args(event, client) -> dict:
    """The transfer an event reports (both processing paths read it here)."""
    data = event.data
    return dict(
        client_ref=client.ref,
        transfer_id=data["transfer_id"],
        source=data["from"],
        destination=data["to"],
        amount=parse_decimal(data["amount"], "amount"),
        currency=data["currency"],
        occurred_at=event.occurred_at,
    )


@dataclass
class PaymentsState:
    deposits: dict[tuple[str, str], Deposit] = field(default_factory=dict)  # (provider, payment id)
    transfers: dict[str, Transfer] = field(default_factory=dict)  # by transfer id
    accounts: dict[str, TradingAccount] = field(default_factory=dict)  # by platform account id
    posted: set[str] = field(default_factory=set)  # ledger keys posted (of those the events could post)
    balances: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (wallet, currency)
    waiting: set[str] = field(default_factory=set)  # clients with transfers waiting for funds
    new_deposits: list[Deposit] = field(default_factory=list)  # not in the session: written in bulk
    new_transfers: list[Transfer] = field(default_factory=list)
    postings: list[tuple[dict, list[dict]]] = field(default_factory=list)  # ledger.rows

    opened: dict[str, TradingAccount] = field(default_factory=dict)  # the accounts form's, this round's included
    # For the deposit facts (engine.payments.batch_facts): the group's clients, summed on first read.
    session: Session | None = None
    refs: list[str] = field(default_factory=list)
    totals: DepositTotals | None = None

    by_client: dict[str, list[Deposit]] = field(default_factory=dict)  # `deposits`, by client

    def keep(self, deposit: Deposit) -> None:
        """Add a deposit to the state (a deposit never changes client: `deposits.change`)."""
        self.deposits[(deposit.provider, deposit.payment_id)] = deposit
        self.by_client.setdefault(deposit.client_ref, []).append(deposit)

    def deposit_totals(self) -> DepositTotals:
        if self.totals is None:
            assert self.session is not None
            named = sorted(d.id for d in self.deposits.values() if d.id is not None)
            self.totals = load_totals(self.session, self.refs, named)
        return self.totals

    def account(self, account_id: str) -> TradingAccount | None:
        return self.accounts.get(account_id) or self.opened.get(account_id)

    def available(self, account: str, currency: str) -> Decimal:
        return self.balances[(account, currency)]  # KeyError: not loaded, the event is refused


def load(session: Session, clients: dict, events: list) -> PaymentsState:
    state = PaymentsState(session=session, refs=sorted(clients))
    mine = [e for e in events if e.type in DEPOSIT_EVENTS or e.type in TRANSFER_EVENTS]
    if not mine:
        return state
    payments = {
        (d["provider"], d["payment_id"])
        for e in mine
        if e.type in DEPOSIT_EVENTS
        for d in [e.data or {}]
        if isinstance(d.get("provider"), str) and isinstance(d.get("payment_id"), str)
    }
    transfer_ids = {
        t for e in mine if e.type in TRANSFER_EVENTS and isinstance(t := (e.data or {}).get("transfer_id"), str)
    }
    names = {
        n
        for e in mine
        if e.type == TRANSFER_COMPLETED
        for n in ((e.data or {}).get("from"), (e.data or {}).get("to"))
        if isinstance(n, str) and n != transfers.WALLET
    }
    wallets = {
        (ledger.wallet(e.client_ref, c), c) for e in mine if isinstance(c := (e.data or {}).get("currency"), str)
    }
    if payments:
        found = session.scalars(select(Deposit).where(Deposit.payment_id.in_(sorted({p for _, p in payments}))))
        for deposit in found:
            if (deposit.provider, deposit.payment_id) in payments:
                state.keep(deposit)
    if transfer_ids:
        found_t = session.scalars(select(Transfer).where(Transfer.transfer_id.in_(sorted(transfer_ids))))
        state.transfers = {t.transfer_id: t for t in found_t}
    if names:
        found_a = session.scalars(select(TradingAccount).where(TradingAccount.account_id.in_(sorted(names))))
        state.accounts = {a.account_id: a for a in found_a}
    keys = [f"deposit:{p}:{i}:{what}" for p, i in payments for what in ("credit", "refund", "chargeback")]
    keys += [f"transfer:{t}" for t in transfer_ids]
    state.posted = set(session.scalars(select(Posting.key).where(Posting.key.in_(sorted(keys)))))
    state.balances = dict.fromkeys(wallets, ledger.ZERO)
    sums = session.execute(
        select(LedgerEntry.account, LedgerEntry.currency, money_sum(LedgerEntry.amount))
        .where(LedgerEntry.account.in_(sorted({a for a, _ in wallets})))
        .group_by(LedgerEntry.account, LedgerEntry.currency)
    )
    state.balances.update(((a, c), total) for a, c, total in sums if (a, c) in state.balances)
    refs = sorted({e.client_ref for e in mine})
    state.waiting = set(
        session.scalars(
            select(Transfer.client_ref).where(Transfer.client_ref.in_(refs), Transfer.status == "waiting").distinct()
        )
    )
    return state


def accepts(state: PaymentsState, event, client) -> bool:
    """Whether `apply` does exactly what the per-event projection would (see the module)."""
    try:
        if event.type in DEPOSIT_EVENTS:
            return client.ref not in state.waiting and _deposit_accepted(state, event, client)
        if event.type == TRANSFER_COMPLETED:
            return client.ref not in state.waiting and _transfer_accepted(state, event, client)
        if event.type == TRANSFER_FAILED:
            transfer_args(event, client)
            return True
    except Exception:
        return False  # the per-event path raises, and isolates the event
    return False


def _deposit_accepted(state: PaymentsState, event, client) -> bool:
    data, status = event.data, DEPOSIT_EVENTS[event.type]
    amount = deposits.amount_of(data)
    found = state.deposits.get((data["provider"], data["payment_id"]))
    deposit = _copy(found) if found is not None else deposits.new(client.ref, data, amount)
    deposits.change(deposit, client.ref, status, data, amount, event.occurred_at)  # raises as per event
    if deposit.completed_at is None:
        return True  # settles nothing yet
    credit = deposits.credit(deposit)
    if _decide(state, credit) and client.auto_funding and not deposit.on_platform:
        return False  # funds the trading account (deposits._auto_fund): per event
    return not any(
        at is not None and deposits.key(deposit, what) not in state.posted
        for what, at, _, _ in deposits.reversals(deposit)
    )  # a refund or chargeback to post: per event


def _transfer_accepted(state: PaymentsState, event, client) -> bool:
    args = transfer_args(event, client)
    found = state.transfers.get(args["transfer_id"])
    if transfers.is_repeat(found):
        return True
    if found is not None and (found.status == "waiting" or found.client_ref != client.ref):
        return False
    transfer = found if found is not None else transfers.to_post(None, True, **args)[0]
    status, _, _ = _outcome(state, transfer)
    return status != "waiting"


def apply(state: PaymentsState, event, client) -> None:
    if event.type in DEPOSIT_EVENTS:
        _deposit(state, event, client)
    elif event.type == TRANSFER_COMPLETED:
        _transfer_completed(state, event, client)
    else:
        _transfer_failed(state, event, client)


def _deposit(state: PaymentsState, event, client) -> None:
    """As `deposits.apply` and `settle` (accepts() refused auto-funding and reversals)."""
    data = event.data
    amount = deposits.amount_of(data)
    deposit = state.deposits.get((data["provider"], data["payment_id"]))
    if deposit is None:
        deposit = deposits.new(client.ref, data, amount)
        state.keep(deposit)
        state.new_deposits.append(deposit)
    deposits.change(deposit, client.ref, DEPOSIT_EVENTS[event.type], data, amount, event.occurred_at)
    if deposit.completed_at is None:
        return
    credit = deposits.credit(deposit)
    if _decide(state, credit):
        _post(state, credit, event.seq)
        advance(client, "funded")


def _transfer_completed(state: PaymentsState, event, client) -> None:
    """As `transfers.apply(wait_for_funds=True)` (accepts() made sure it does not wait)."""
    args = transfer_args(event, client)
    found = state.transfers.get(args["transfer_id"])
    if transfers.is_repeat(found):
        return
    transfer, _ = transfers.to_post(found, True, **args)
    if found is None:
        state.transfers[transfer.transfer_id] = transfer
        state.new_transfers.append(transfer)
    transfer.status, transfer.reason, legs = _outcome(state, transfer)
    if legs is not None:
        _post(state, {**transfers.posting(transfer), "legs": legs}, event.seq)


def _transfer_failed(state: PaymentsState, event, client) -> None:
    """As `transfers.failed`: recorded once, nothing posted."""
    args = transfer_args(event, client)
    if args["transfer_id"] not in state.transfers:
        transfer = transfers.failed_row(reason=event.data.get("reason"), **args)
        state.transfers[transfer.transfer_id] = transfer
        state.new_transfers.append(transfer)


def _outcome(state: PaymentsState, transfer: Transfer):
    return transfers.outcome(
        transfer,
        wait_for_funds=True,
        account_of=state.account,
        posted=state.posted.__contains__,
        available_of=state.available,
    )


def _decide(state: PaymentsState, posting: dict) -> bool:
    return ledger.decide(
        posting["key"], posting["legs"], posted=state.posted.__contains__, available_of=state.available
    )


def _post(state: PaymentsState, posting: dict, event_seq: int) -> None:
    """Record a decided posting: its rows to write, its key posted, the balances moved."""
    state.postings.append(ledger.rows(**posting, event_seq=event_seq))
    state.posted.add(posting["key"])
    for leg in posting["legs"]:
        if (leg.account, leg.currency) in state.balances:
            state.balances[(leg.account, leg.currency)] += leg.amount


def _copy(deposit: Deposit) -> Deposit:
    """A scratch copy of a deposit row (not in a session), to try an event on."""
    return Deposit(**{c.key: getattr(deposit, c.key) for c in Deposit.__table__.columns})


def _row(obj) -> dict:
    """The column values set on a new row object (columns left unset take their defaults)."""
    return {c.key: obj.__dict__[c.key] for c in obj.__table__.columns if c.key in obj.__dict__}


def write(session: Session, state: PaymentsState) -> None:
    """Insert the new rows in bulk; changed rows that were loaded go with the flush."""
    insert_rows(session, Deposit, [_row(d) for d in state.new_deposits])
    insert_rows(session, Transfer, [_row(t) for t in state.new_transfers])
    if not state.postings:
        return
    # Entries name their posting's id: the postings come back with theirs, in order.
    ids = session.scalars(
        insert(Posting).returning(Posting.id, sort_by_parameter_order=True), [row for row, _ in state.postings]
    ).all()
    entries = [{**e, "posting_id": pid} for pid, (_, rows) in zip(ids, state.postings, strict=True) for e in rows]
    insert_rows(session, LedgerEntry, entries)


# ---- the KYC projections (document_submitted, kyc_review_completed) ------------------
# Both only move on the client's pending withdrawals (waiting for documents, or steps that
# applied while KYC was not approved): for a client with none they do nothing. Withdrawals
# become pending only on the per-event path (their events have no form), so one query per
# round says which clients have one; their events go per event.


def load_pending_withdrawals(session: Session, clients: dict, events: list) -> set[str]:
    refs = sorted({e.client_ref for e in events if e.type in KYC_EVENTS})
    found: set[str] = set()
    for start in range(0, len(refs), 1000):
        found.update(
            session.scalars(
                select(Withdrawal.client_ref)
                .where(Withdrawal.client_ref.in_(refs[start : start + 1000]), Withdrawal.status == "pending")
                .distinct()
            )
        )
    return found


def no_pending_withdrawal(pending: set[str], event, client) -> bool:
    return event.type in KYC_EVENTS and client.ref not in pending


def load_waiting_transfers(session: Session, clients: dict, events: list) -> set[str]:
    """The clients creating an account in the round whose transfers wait (for it, or for funds)."""
    refs = sorted({e.client_ref for e in events if e.type == "account.created"})
    if not refs:
        return set()
    return set(
        session.scalars(
            select(Transfer.client_ref).where(Transfer.client_ref.in_(refs), Transfer.status == "waiting").distinct()
        )
    )


def sees(state: PaymentsState, round_states: dict) -> None:
    """Take the trading accounts the round's accounts form knows (those it opens in the
    round included): a transfer into an account opened earlier in the round posts."""
    accounts_state = round_states.get("accounts")
    if accounts_state is not None:
        state.opened = accounts_state.accounts  # the same dict: accounts it opens later too
