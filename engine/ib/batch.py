"""The set-based form of the IB activity projection (issue 20): closed trades here, KYC
results of clients no IB owns, and deposits in engine.ib.moves_batch.

A closed trade records the trade (and the client's IB projection row on first use), and
for a referred client checks what it earns the IB in policy mode (`evaluate.after_activity`):
the per-trade commissions the profiles' policies pay (with caps, and overrides for the
upline), and the CPA policy. The decisions are the per-event path's own functions
(`service.decide_commission`, `commissions.plan_overrides`, `commissions.cap`) reading a
`GroupLedger` instead of SQL: for a group, a few bulk reads (`IN (...)`) load the clients'
IB rows, the trades already recorded, the IB chains, the commissions already paid for
what the events could pay for, the sums the caps count and the referred clients'
deposits; the new rows are written in bulk (engine.bulk).

An IB's monthly cap counts the commissions of all its clients, so before reading those
sums the group locks every IB of its referred clients' chains (sorted, after the client
locks), as the per-event path locks an IB before summing its month.

`accepts` refuses (the per-event path decides) a trade of a referred client whose CPA
policy it cannot decide here: no CPA yet and the client's KYC, chargebacks, deposits and
registration all pass the policy, so only the lots counted (history) would tell.

With the rules paying the CPA and rebates (rules/ib/*.yaml), the ledger is loaded for
every referred client with an IB event of the round: the rules' `commission` decides on
it (engine.ib.commission_batch), its CPA conditions read the facts of
engine.ib.batch_facts from this state, and a referred client's deposit or KYC result is
taken (`_rules_pay_cpa`: no policy to check after it, no CPA for a reversal to claw back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.bulk import insert_rows
from engine.db import money_sum
from engine.ib import batch_facts  # noqa: F401  (registers the facts read from this form's state)
from engine.ib import commissions, evaluate, moves_batch, qualification, tree
from engine.ib.commissions import NewCommission
from engine.ib.config import IbConfig, Policy
from engine.ib.models import (
    REJECTED,
    IbClientStats,
    IbCommission,
    IbCommissionChange,
    IbMoneyMove,
    IbTrade,
    IntroducingBroker,
)
from engine.values import parse_datetime, parse_decimal, utcnow

TYPE = "trade.closed"
KYC = "kyc.review_completed"


def trade_row(client_ref: str, data: dict) -> dict:
    """Return the `ib_trades` row of a closed trade (both processing paths build it here)."""
    opened, closed = parse_datetime(data["open_time"]), parse_datetime(data["close_time"])
    return {
        "client_ref": client_ref,
        "account_id": data["account_id"],
        "ticket": data["ticket"],
        "symbol": data["symbol"],
        "lots": parse_decimal(data["volume_lots"]),
        "open_time": opened,
        "close_time": closed,
        "held_seconds": max(int((closed - opened).total_seconds()), 0),
        "profit": parse_decimal(data["profit"]),
        "fee": parse_decimal(data.get("commission") or "0"),
        "currency": data.get("currency"),
    }


class NotLoaded(LookupError):
    """The group state was asked what it did not load (a bug: the event goes per event)."""


@dataclass
class GroupLedger:
    """The answers `commissions.Ledger` gives, for a group's referred clients and their
    IBs, kept up to date as the group's events record commissions."""

    chains: dict[str, list[str]]  # introducing IB -> its chain, nearest first
    keys: set[str]  # commission keys already recorded, among `asked`
    asked: set[str]  # the keys loaded
    by_client: dict[tuple[str, str, str], Decimal]  # (ib, currency, client) -> sum
    clients: set[str]  # clients whose sums were loaded
    by_month: dict[tuple[str, str, datetime], Decimal]  # (ib, currency, month start) -> sum
    months: set[datetime]
    moves: dict[str, list[IbMoneyMove]]  # client -> deposits, oldest first
    ibs: set[str] = field(default_factory=set)  # the IBs of the chains (locked, sums loaded)
    # Clients whose CPA policy only their lots can still decide: the policy and the lots
    # it counts so far (`qualification.counted_lots`), kept up to date as trades are recorded.
    cpa_lots: dict[str, tuple[Policy, Decimal]] = field(default_factory=dict)
    state: "IbState | None" = None  # whose deposits `deposits` gives (the round's included)

    def exists(self, key: str) -> bool:
        if key not in self.asked:
            raise NotLoaded(key)
        return key in self.keys

    def used_by_client(self, ib_id: str, currency: str, client_ref: str) -> Decimal:
        if client_ref not in self.clients:
            raise NotLoaded(client_ref)
        return self.by_client.get((ib_id, currency, client_ref), Decimal(0))

    def used_in_month(self, ib_id: str, currency: str, month: datetime) -> Decimal:
        start = commissions.month_of(month)[0]
        if start not in self.months or ib_id not in self.ibs:
            raise NotLoaded(f"{ib_id} {start}")
        return self.by_month.get((ib_id, currency, start), Decimal(0))

    def chain(self, ib_id: str) -> list[str]:
        return self.chains[ib_id]

    def deposits(self, client_ref: str, as_of: datetime) -> list:
        moves = self.moves[client_ref] if self.state is None else batch_facts.deposits(self.state, client_ref)
        return [m for m in moves if m.at <= as_of]

    def add(self, new: NewCommission) -> None:
        """Count a commission the group records (what the per-event path reads back)."""
        self.keys.add(new.key)
        self.asked.add(new.key)
        if new.client_ref is not None:
            key = (new.ib_id, new.currency, new.client_ref)
            self.by_client[key] = self.by_client.get(key, Decimal(0)) + new.amount
        month = (new.ib_id, new.currency, commissions.month_of(new.earned_at)[0])
        self.by_month[month] = self.by_month.get(month, Decimal(0)) + new.amount


@dataclass
class IbState:
    stats: dict[str, IbClientStats | None]  # by client ref (None: no row yet)
    trades: dict[tuple[str, str, str], IbTrade | None]  # (client, account, ticket) recorded
    config: IbConfig | None = None  # for referred clients (None: they go per event)
    by_rules: frozenset[str] = frozenset()
    ledger: GroupLedger | None = None
    made: set[str] = field(default_factory=set)  # clients whose row is new
    new_stats: list[dict] = field(default_factory=list)
    new_by_client: dict[str, dict] = field(default_factory=dict)  # the rows of new_stats by client
    new_trades: list[dict] = field(default_factory=list)
    new_commissions: list[tuple[NewCommission, datetime]] = field(default_factory=list)  # with created_at
    moves: moves_batch.Moves = field(default_factory=moves_batch.Moves)  # deposits (engine.ib.moves_batch)
    # for the facts the rules read (engine.ib.batch_facts): loaded on the first read
    session: Session | None = None
    deposits: dict[str, list[IbMoneyMove]] | None = None  # client -> deposits recorded, oldest first
    lots: dict[tuple, dict[str, tuple[datetime | None, Decimal]]] = field(default_factory=dict)
    new_trades_of: dict[str, list[dict]] = field(default_factory=dict)  # new_trades by client
    # (client, lots policy, registered_at) -> [how many of its new trades are summed, their lots]
    new_lots: dict[tuple, list] = field(default_factory=dict)
    registered: dict[str, datetime | None] = field(default_factory=dict)  # client -> registered_at, at load
    undated: dict[str, list[IbTrade]] | None = None  # trades recorded of clients registered_at None at load
    written: bool = False  # new_commissions written (by this form or the commission form)


def load(session: Session, clients: dict, events: list) -> IbState:
    closed = [e for e in events if e.type == TYPE]
    refs = sorted({e.client_ref for e in closed})
    others = {e.client_ref for e in events if e.type == KYC or e.type in moves_batch.TYPES}
    stats: dict[str, IbClientStats | None] = dict.fromkeys(sorted(set(refs) | others))
    if stats:
        stats.update(
            (s.client_ref, s)
            for s in session.scalars(select(IbClientStats).where(IbClientStats.client_ref.in_(sorted(stats))))
        )
    referred = sorted(r for r in refs if (s := stats[r]) is not None and s.ib_id is not None)
    tickets = sorted({t for e in closed if isinstance(t := (e.data or {}).get("ticket"), str)})
    trades: dict[tuple[str, str, str], IbTrade | None] = {}
    if tickets:
        trades.update(
            dict.fromkeys(
                session.execute(
                    select(IbTrade.client_ref, IbTrade.account_id, IbTrade.ticket).where(
                        IbTrade.client_ref.in_(sorted(set(refs) - set(referred))), IbTrade.ticket.in_(tickets)
                    )
                ).tuples()
            )
        )
        if referred:  # a commission reads the recorded trade itself
            trades.update(
                ((t.client_ref, t.account_id, t.ticket), t)
                for t in session.scalars(
                    select(IbTrade).where(IbTrade.client_ref.in_(referred), IbTrade.ticket.in_(tickets))
                )
            )
    state = IbState(stats, trades, moves=moves_batch.load(session, events), session=session)
    state.registered = {r: clients[r].registered_at for r in stats}
    # every referred client with an IB event: its rules' `commission` (engine.ib.
    # commission_batch) and deposits and KYC results (`accepts`) read the ledger too
    every = sorted(r for r, s in stats.items() if s is not None and s.ib_id is not None)
    if every and not _given_facts():
        mine = set(every)
        _load_referred(session, state, [e for e in events if e.client_ref in mine], every, referred)
    return state


def _given_facts() -> bool:
    """A rule test states the client's IB or chain: the per-event path reads them."""
    from engine.ib.service import _given

    return _given("ib") is not None or _given("ib.chain") is not None


def _load_referred(session: Session, state: IbState, events: list, referred: list[str], trading: list[str]) -> None:
    """What the commission decisions of the referred clients' events read, in bulk
    (`trading`: those with a closed trade)."""
    from engine.ib.service import PER_TRADE, config_for, types_paid_by_rules

    config = state.config = config_for(session)
    state.by_rules = types_paid_by_rules(session, config)
    chains = _chains(session, sorted({s.ib_id for r in referred if (s := state.stats[r]) and s.ib_id}))
    ibs = sorted({i for chain in chains.values() for i in chain})
    commissions.lock_ibs(session, ibs)  # the sums below are the locked values
    asked = {f"cpa:{r}" for r in referred}
    for ref in referred:  # a rule's CPA and its overrides
        asked.update(f"cpa:{ref}/override:{a}" for a in chains[state.stats[ref].ib_id][1:])  # type: ignore[union-attr,index]
    closed = [e for e in events if e.type == TYPE]
    for event in closed:
        data, ib_id = event.data or {}, state.stats[event.client_ref].ib_id  # type: ignore[union-attr]
        for type in PER_TRADE:
            key = f"{type}:{event.client_ref}:{data.get('account_id')}:{data.get('ticket')}"
            asked.add(key)
            asked.update(f"{key}/override:{a}" for a in chains[ib_id][1:])
    keys = _existing(session, sorted(asked))
    months = sorted({commissions.month_of(e.occurred_at)[0] for e in events})
    moves: dict[str, list[IbMoneyMove]] = {r: [] for r in referred}
    for move in session.scalars(
        select(IbMoneyMove)
        .where(IbMoneyMove.client_ref.in_(referred), IbMoneyMove.kind == "deposit")
        .order_by(IbMoneyMove.at, IbMoneyMove.id)
    ):
        moves[move.client_ref].append(move)
    state.ledger = GroupLedger(
        chains,
        keys,
        asked,
        _sums_by_client(session, referred),
        set(referred),
        _sums_by_month(session, ibs, months),
        set(months),
        moves,
        set(ibs),
        state=state,
    )
    state.ledger.cpa_lots = _cpa_lots(session, state, trading)


def _cpa_lots(session: Session, state: IbState, referred: list[str]) -> dict[str, tuple[Policy, Decimal]]:
    """`evaluate.check_cpa` on a trade: nothing once the CPA is paid, without one, or while
    the client cannot qualify whatever it trades; otherwise the lots it counts decide.
    Those are summed here for the group (one aggregate per policy, each client's window)."""
    config, ledger = state.config, state.ledger
    assert config is not None and ledger is not None
    if "cpa" in state.by_rules:
        return {}  # the rules decide the CPA (the rules evaluator's form)
    waiting: dict[str, list[IbClientStats]] = {}
    for ref in referred:
        stats = state.stats[ref]
        assert stats is not None and stats.ib_id is not None
        profile = config.profile_for(stats.ib_id)
        if profile.cpa is None or f"cpa:{ref}" in ledger.keys:
            continue
        policy = config.policies[profile.cpa_policy]  # type: ignore[index]
        if qualification.could_qualify(policy, stats, ledger.moves[ref]):
            waiting.setdefault(policy.name, []).append(stats)
    found: dict[str, tuple[Policy, Decimal]] = {}
    for name, group in waiting.items():
        policy = config.policies[name]
        lots = qualification.counted_lots_of(session, policy, [(s.client_ref, s.registered_at) for s in group])
        found.update((s.client_ref, (policy, lots.get(s.client_ref, Decimal(0)))) for s in group)
    return found


def _chains(session: Session, ib_ids: list[str]) -> dict[str, list[str]]:
    """Each IB's chain as `service.chain_ids` gives it (tree.chain), with a query per level."""
    parents: dict[str, str | None] = {}
    asked, frontier = set(), set(ib_ids)
    while frontier:
        asked |= frontier
        rows = session.execute(
            select(IntroducingBroker.ib_id, IntroducingBroker.parent_ib_id).where(
                IntroducingBroker.ib_id.in_(sorted(frontier))
            )
        ).tuples()
        parents.update(dict(rows.all()))
        frontier = {p for p in parents.values() if p and p not in asked}
    chains = {}
    for ib_id in ib_ids:
        found: list[str] = []
        current: str | None = ib_id
        while current and current not in found and len(found) < tree.MAX_DEPTH and current in parents:
            found.append(current)
            current = parents[current]
        chains[ib_id] = found or [ib_id]
    return chains


def _existing(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 5000):  # bound the statement's parameters
        found.update(session.scalars(select(IbCommission.key).where(IbCommission.key.in_(keys[start : start + 5000]))))
    return found


def _sums_by_client(session: Session, refs: list[str]) -> dict[tuple[str, str, str], Decimal]:
    rows = session.execute(
        select(IbCommission.ib_id, IbCommission.currency, IbCommission.client_ref, money_sum(IbCommission.amount))
        .where(IbCommission.client_ref.in_(refs), IbCommission.status != REJECTED)
        .group_by(IbCommission.ib_id, IbCommission.currency, IbCommission.client_ref)
    ).tuples()
    return {(i, c, r): commissions.money_total(total) for i, c, r, total in rows}


def _sums_by_month(session: Session, ibs: list[str], months: list[datetime]) -> dict:
    found = {}
    for start in months:
        end = commissions.month_of(start)[1]
        rows = session.execute(
            select(IbCommission.ib_id, IbCommission.currency, money_sum(IbCommission.amount))
            .where(
                IbCommission.ib_id.in_(ibs),
                IbCommission.status != REJECTED,
                IbCommission.earned_at >= start,
                IbCommission.earned_at < end,
            )
            .group_by(IbCommission.ib_id, IbCommission.currency)
        ).tuples()
        found.update(((i, c, start), commissions.money_total(total)) for i, c, total in rows)
    return found


def accepts(state: IbState, event, client) -> bool:
    """A closed trade of a client no IB owns, or of a referred client when every decision
    it leads to can be made from the group state; a KYC result or a deposit
    (engine.ib.moves_batch) of a client no IB owns, or of a referred client when the rules
    pay the CPA (`_rules_pay_cpa`)."""
    if event.type == KYC:
        return _kyc_accepts(state, event, client)
    if event.type in moves_batch.TYPES:
        if client.ref not in state.stats:
            return False
        stats = state.stats[client.ref]
        referred = stats is not None and stats.ib_id is not None
        if referred and not _rules_pay_cpa(state, client.ref, event):
            return False
        return moves_batch.accepts(state.moves, event, stats, referred=referred)
    if event.type != TYPE or client.ref not in state.stats:
        return False
    data = event.data or {}
    if not (isinstance(data.get("account_id"), str) and isinstance(data.get("ticket"), str)):
        return False
    try:
        trade_row(client.ref, data)
    except Exception:
        return False  # the per-event path raises, and isolates the event
    stats = state.stats[client.ref]
    if stats is None or stats.ib_id is None:
        return True
    try:
        return _referred_accepts(state, stats, event)
    except (NotLoaded, KeyError):
        return False


def _referred_accepts(state: IbState, stats: IbClientStats, event) -> bool:
    """The CPA check after the trade does nothing (`_cpa_lots`): a trade that makes the
    client qualify goes per event (its explanation lists every trade of the client)."""
    if state.ledger is None or state.config is None:
        return False
    state.ledger.chain(stats.ib_id)  # type: ignore[arg-type]  # loaded, or KeyError
    waiting = state.ledger.cpa_lots.get(stats.client_ref)
    if waiting is None:
        return True
    policy, lots = waiting
    lots += _counted(state, stats, event, policy)
    moves = state.ledger.moves[stats.client_ref]
    return not qualification.evaluate(policy, stats, stats.registered_at, moves, lots=lots).qualified


def _counted(state: IbState, stats: IbClientStats, event, policy: Policy) -> Decimal:
    """The lots the event's trade adds to what the CPA policy counts (none if recorded)."""
    key = (stats.client_ref, event.data["account_id"], event.data["ticket"])
    if key in state.trades:
        return Decimal(0)
    trade = IbTrade(**trade_row(stats.client_ref, event.data))
    return trade.lots if qualification.trade_verdict(policy, trade, stats.registered_at)[0] else Decimal(0)


def _kyc_accepts(state: IbState, event, client) -> bool:
    if client.ref not in state.stats or not isinstance((event.data or {}).get("result"), str):
        return False
    stats = state.stats[client.ref]
    return stats is None or stats.ib_id is None or _rules_pay_cpa(state, client.ref, event)


def _rules_pay_cpa(state: IbState, ref: str, event) -> bool:
    """Whether a referred client's deposit or KYC result does nothing here but record itself:
    the rules pay the CPA (`after_activity` checks no policy after a deposit or KYC result;
    the rules' form decides the `commission`, engine.ib.commission_batch), and a reversal
    has no CPA to claw back (recorded, or made earlier in the round)."""
    if state.ledger is None or state.config is None or "cpa" not in state.by_rules:
        return False  # policy mode (check_cpa), or the ledger not loaded: per event
    return event.type not in moves_batch.REVERSED or f"cpa:{ref}" not in state.ledger.keys


def kyc_approved_at(current: datetime | None, result: str, at: datetime) -> datetime | None:
    """When the client's KYC counts as approved after a KYC result (the latest wins)."""
    if result == "approved" and current is None:
        return at
    return None if result == "rejected" else current


def _apply_kyc(state: IbState, event, client) -> None:
    """`kyc_completed` (no IB owns the client: `after_activity` does nothing)."""
    stats, result = state.stats[client.ref], event.data["result"]
    if stats is None:  # made in this round
        row = state.new_by_client[client.ref]
        row["kyc_approved_at"] = kyc_approved_at(row["kyc_approved_at"], result, event.occurred_at)
        return
    approved_at = kyc_approved_at(stats.kyc_approved_at, result, event.occurred_at)
    if approved_at != stats.kyc_approved_at:
        stats.kyc_approved_at = approved_at


def apply(state: IbState, event, client) -> None:
    if state.stats[client.ref] is None and client.ref not in state.made:
        _ensure_stats(state, client)
    if event.type == KYC:
        _apply_kyc(state, event, client)
        return
    if event.type in moves_batch.TYPES:
        stats = state.stats[client.ref]
        moves_batch.apply(state.moves, event, stats if stats is not None else state.new_by_client[client.ref])
        return
    key = (client.ref, event.data["account_id"], event.data["ticket"])
    stats = state.stats[client.ref]
    if stats is not None and state.ledger is not None and client.ref in state.ledger.cpa_lots:
        policy, lots = state.ledger.cpa_lots[client.ref]
        state.ledger.cpa_lots[client.ref] = (policy, lots + _counted(state, stats, event, policy))
    if key not in state.trades:
        row = trade_row(client.ref, event.data)
        state.trades[key] = IbTrade(**row) if stats is not None and stats.ib_id is not None else None
        state.new_trades.append(row)
        state.new_trades_of.setdefault(client.ref, []).append(row)
    if stats is not None and stats.ib_id is not None:
        _earn(state, stats, event, state.trades[key])


def _earn(state: IbState, stats: IbClientStats, event, trade: IbTrade | None) -> None:
    """`evaluate.after_activity` for a closed trade: the policies' per-trade commissions
    (the CPA check does nothing: `accepts`), decided as `service.record_commission` does."""
    from engine.ib.service import decide_commission

    config, ledger = state.config, state.ledger
    assert config is not None and ledger is not None and trade is not None and stats.ib_id is not None
    profile = config.profile_for(stats.ib_id)
    types = evaluate.policy_trade_types(state.by_rules)
    if not types or not evaluate.earns_for_trade(stats, event):
        return
    for type in types:
        for new in decide_commission(
            ledger,
            config,
            profile,
            ib_id=stats.ib_id,
            client_ref=stats.client_ref,
            type=type,
            explanation=evaluate.policy_explanation(config, f"profile:{profile.name}", event, {}),
            trade=trade,
            stats=stats,
            event=event,
            once_per="trade",
            actor="policy",
        ):
            ledger.add(new)
            state.new_commissions.append((new, utcnow()))


def _ensure_stats(state: IbState, client) -> None:
    """As `tree.ensure_stats`: the client's IB row, made on first use."""
    state.made.add(client.ref)
    row = {"client_ref": client.ref, "chargebacks": 0, "registered_at": client.registered_at, "kyc_approved_at": None}
    state.new_stats.append(row)
    state.new_by_client[client.ref] = row


def write(session: Session, state: IbState) -> None:
    if state.new_stats:
        insert_rows(session, IbClientStats, state.new_stats)
    if state.new_trades:
        insert_rows(session, IbTrade, state.new_trades)
    write_commissions(session, state)
    if state.moves.new:
        insert_rows(session, IbMoneyMove, state.moves.new)


def write_commissions(session: Session, state: IbState) -> None:
    """Write the round's commissions (the policies' and the rules'), in the order decided,
    once: the commission form's results name their ids (engine.ib.commission_batch)."""
    if state.new_commissions and not state.written:
        _write_commissions(session, state.new_commissions)
    state.written = True


def _write_commissions(session: Session, made: list[tuple[NewCommission, datetime]]) -> None:
    """Insert the decided commissions with ids taken in the order the per-event path would
    insert them (an override names its base's id), and their creation entries."""
    for (new, _), id_ in zip(made, _new_ids(session, len(made)), strict=True):
        new.id = id_
    rows, changes = [], []
    for new, created_at in made:
        if new.source is not None:
            new.source_id = new.source.id
            new.explanation["override_of"] = new.source_id
        rows.append(
            {
                "id": new.id,
                "key": new.key,
                "ib_id": new.ib_id,
                "client_ref": new.client_ref,
                "type": new.type,
                "level": new.level,
                "amount": new.amount,
                "currency": new.currency,
                "status": new.status,
                "profile": new.profile,
                "source_id": new.source_id,
                "reason": new.reason,
                "explanation": new.explanation,
                "earned_at": new.earned_at,
                "created_at": created_at,
                "created_by": new.actor,
            }
        )
        changes.append(
            {
                "commission_id": new.id,
                "at": created_at,
                "actor": new.actor,
                "from_status": None,
                "to_status": new.status,
                "reason": new.reason or "created",
            }
        )
    insert_rows(session, IbCommission, rows)
    insert_rows(session, IbCommissionChange, changes)


def _new_ids(session: Session, count: int) -> list[int]:
    """`count` new `ib_commissions` ids, as the inserts one by one would take them."""
    if session.get_bind().dialect.name == "postgresql":
        return sorted(
            session.scalars(
                text("SELECT nextval(pg_get_serial_sequence('ib_commissions', 'id')) FROM generate_series(1, :n)"),
                {"n": count},
            )
        )
    # SQLite: the writer holds the database's one write lock (BEGIN IMMEDIATE), and an
    # INTEGER PRIMARY KEY takes the largest id plus one.
    last = session.scalar(select(func.max(IbCommission.id))) or 0
    return list(range(last + 1, last + 1 + count))
