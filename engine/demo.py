"""A synthetic broker: realistic canonical events for the demo and the benchmarks."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterator

from engine.values import UTC, iso

COUNTRIES = ["DE", "FR", "ES", "IT", "GB", "PL", "NL", "AE", "ZA", "CY", "SE", "PT"]
FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Nikos",
    "Olga",
    "Pavel",
    "Rosa",
    "Sven",
]
LAST = [
    "Meyer",
    "Rossi",
    "Novak",
    "Garcia",
    "Dubois",
    "Kowalski",
    "Jensen",
    "Silva",
    "Popescu",
    "Horvat",
    "Ahmadi",
    "Nielsen",
    "Costa",
    "Weber",
]
SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US30", "BTCUSD"]
DECLINES = [
    ("card_declined", "Your card was declined."),
    ("insufficient_funds", "Your card has insufficient funds."),
    ("expired_card", "Your card has expired."),
    ("processing_error", "An error occurred while processing your card."),
]
DEMO_START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


class _Client:
    def __init__(self, gen: "BrokerGenerator", index: int):
        self.gen, self.rng = gen, gen.rng
        self.ref = f"C{index:06d}"
        self.t = gen.start + timedelta(minutes=self.rng.randint(0, gen.span_minutes))
        self.n = 0

    def event(self, etype: str, data: dict, minutes: float = 0, source: str = "backoffice"):
        self.t += timedelta(minutes=minutes)
        self.n += 1
        return {
            "id": f"{self.ref}-{self.n}",
            "type": etype,
            "source": source,
            "occurred_at": iso(self.t),
            "client": self.ref,
            "data": data,
        }

    def later(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)


class BrokerGenerator:
    """Generate clients' journeys: registration, KYC, deposits, accounts, trades, IBs."""

    def __init__(self, seed: int = 7, start: datetime = DEMO_START, span_days: int = 28):
        self.rng = random.Random(seed)
        self.start = start
        self.span_minutes = span_days * 24 * 60
        self.ibs: list[str] = []
        self.accounts: list[tuple[str, str]] = []  # (client ref, trading account) so far

    def journey(self, index: int) -> Iterator[dict]:
        """Yield one client's events in time order."""
        c, rng = _Client(self, index), self.rng
        country = rng.choice(COUNTRIES)
        ctype = "corporate" if rng.random() < 0.06 else "individual"
        data = {
            "email": f"{c.ref.lower()}@example.com",
            "country": country,
            "client_type": ctype,
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "source": rng.choice(["google", "partner", "affiliate", "organic"]),
        }
        if self.ibs and rng.random() < 0.35:
            data["referral_code"] = "REF-" + rng.choice(self.ibs)
        yield c.event("client.registered", data)
        if index % 50 == 1:
            self.ibs.append(c.ref)
            yield c.event("ib.registered", {"ib_id": c.ref, "referral_code": "REF-" + c.ref}, c.later(1, 60))
        yield from self._kyc(c, ctype)
        if c.kyc == "approved":
            yield from self._money_and_trading(c)

    def _kyc(self, c: _Client, ctype: str) -> Iterator[dict]:
        rng = c.rng
        docs = ["incorporation", "ubo_declaration"] if ctype == "corporate" else ["id", "selfie"]
        if rng.random() < 0.8:
            docs.append("proof_of_address")
        c.kyc = "none"
        if rng.random() < 0.15:  # never uploads anything: reminders then a task
            return
        for n, doc in enumerate(docs):
            yield c.event(
                "kyc.document_submitted", {"document_id": f"{c.ref}-D{n}", "document_type": doc}, c.later(5, 600)
            )
        roll = rng.random()
        result = "approved" if roll < 0.78 else "retry" if roll < 0.9 else "rejected"
        if roll > 0.97:
            yield c.event("kyc.on_hold", {"provider": "sumsub", "reason": "manual check"}, c.later(10, 120))
            return
        review = {"provider": "sumsub", "result": result}
        if result != "approved":
            review["labels"] = ["UNSATISFACTORY_PHOTOS"] if result == "retry" else ["FORGERY"]
        yield c.event("kyc.review_completed", review, c.later(10, 240))
        c.kyc = result

    def _money_and_trading(self, c: _Client) -> Iterator[dict]:
        rng = c.rng
        failures = rng.choice([0, 0, 0, 1, 1, 3])
        for n in range(failures):
            code, message = rng.choice(DECLINES)
            yield c.event("payment.deposit_failed", self._deposit(c, f"F{n}", code, message), c.later(1, 20))
        if rng.random() < 0.15:
            return  # gives up after failing
        deposit = self._deposit(c, "1")
        yield c.event("payment.deposit_completed", deposit, c.later(5, 300))
        if rng.random() < 0.2:
            return  # funded, no account: sales follow-up
        account = f"MT5-{c.ref[1:]}"
        self.accounts.append((c.ref, account))
        yield c.event(
            "account.created",
            {
                "account_id": account,
                "platform": "mt5",
                "account_type": rng.choice(["standard", "raw"]),
                "currency": "USD",
                "leverage": rng.choice([30, 100, 500]),
            },
            c.later(10, 2000),
        )
        yield c.event(
            "wallet.transfer_completed",
            {
                "transfer_id": f"{c.ref}-T1",
                "from": "wallet",
                "to": account,
                "amount": deposit["amount"],
                "currency": "USD",
            },
            c.later(1, 30),
        )
        for n in range(rng.randint(0, 6)):
            yield from self._trade(c, account, n)
        if rng.random() < 0.1:
            yield c.event(
                "payment.withdrawal_requested",
                {"withdrawal_id": f"{c.ref}-W1", "amount": "50.00", "currency": "USD", "method": "card"},
                c.later(60, 3000),
            )

    def _deposit(self, c: _Client, suffix: str, code: str | None = None, message: str | None = None) -> dict:
        amount = Decimal(c.rng.choice([100, 200, 250, 500, 1000, 2500])) + Decimal(c.rng.randint(0, 99)) / 100
        data = {
            "payment_id": f"{c.ref}-P{suffix}",
            "amount": str(amount),
            "currency": "USD",
            "method": "card",
            "provider": "stripe",
        }
        if code:
            data.update(reason_code=code, reason=message)
        return data

    def _trade(self, c: _Client, account: str, n: int) -> Iterator[dict]:
        rng = c.rng
        side, symbol = rng.choice(["buy", "sell"]), rng.choice(SYMBOLS)
        lots = str(Decimal(rng.choice([1, 2, 5, 10, 50, 100])) / 100)
        opened = c.t + timedelta(minutes=c.later(1, 600))
        closed = opened + timedelta(seconds=rng.choice([20, 45, 300, 3600, 86400]))
        base = {
            "account_id": account,
            "ticket": f"{account}-{n}",
            "symbol": symbol,
            "side": side,
            "volume_lots": lots,
            "open_time": iso(opened),
        }
        yield c.event("trade.opened", base, (opened - c.t).total_seconds() / 60)
        profit = str(Decimal(rng.randint(-5000, 5000)) / 100)
        yield c.event(
            "trade.closed",
            {**base, "close_time": iso(closed), "profit": profit, "currency": "USD"},
            (closed - c.t).total_seconds() / 60,
        )

    def events(self, clients: int, *, first: int = 1, total: int | None = None) -> Iterator[dict]:
        """Yield the journeys of `clients` clients numbered from `first` (each in time order).

        With `total`, later trading by clients with accounts (weeks after the journeys)
        follows until `total` events were yielded.
        """
        count = 0
        for index in range(first, first + clients):
            for event in self.journey(index):
                count += 1
                yield event
        if total is not None and self.accounts:
            yield from self.later_trading(total - count)

    def waiting_withdrawals(self) -> Iterator[dict]:
        """Yield four clients whose withdrawal waits at each step of the shipped chain."""
        # (KYC approved, amount, steps the broker's systems already approved)
        waits = {
            "compliance": (False, "300.00", 0),
            "client_documents": (True, "25000.00", 1),
            "finance": (True, "400.00", 0),
            "payment_provider": (True, "150.00", 1),
        }
        for n, (waiting, (kyc, amount, approvals)) in enumerate(waits.items(), start=1):
            c = _Client(self, 990000 + n)
            c.t = self.start + timedelta(minutes=self.span_minutes - 600 * n)
            yield c.event(
                "client.registered",
                {
                    "email": f"{c.ref.lower()}@example.com",
                    "country": "DE",
                    "first_name": FIRST[n],
                    "last_name": LAST[n],
                    "client_type": "individual",
                    "source": "organic",
                },
            )
            if kyc:
                yield c.event("kyc.review_completed", {"provider": "sumsub", "result": "approved"}, 30)
            yield c.event(
                "payment.deposit_completed",
                {
                    "payment_id": f"{c.ref}-P1",
                    "amount": "30000.00",
                    "currency": "USD",
                    "method": "bank_wire",
                    "provider": "bank",
                },
                60,
            )
            wid = f"{c.ref}-W1"
            yield c.event(
                "payment.withdrawal_requested",
                {"withdrawal_id": wid, "amount": amount, "currency": "USD", "method": "bank_wire"},
                60,
            )
            for _ in range(approvals):
                yield c.event(
                    "payment.withdrawal_approved",
                    {
                        "withdrawal_id": wid,
                        "amount": amount,
                        "currency": "USD",
                        "reason": f"demo: passed by the back office, now {waiting}",
                    },
                    30,
                )

    def later_trading(self, count: int) -> Iterator[dict]:
        """Yield `count` events of trades (opened, closed) on accounts already opened."""
        later = self.start + timedelta(minutes=self.span_minutes)
        for n in range((count + 1) // 2):
            ref, account = self.rng.choice(self.accounts)
            c = _Client(self, 0)
            c.ref, c.n = ref, 1000 + n * 2  # ids apart from the journey's own
            c.t = later + timedelta(minutes=self.rng.randint(0, self.span_minutes))
            trade = list(self._trade(c, account, 1000 + n))
            yield from trade[: count - 2 * n]


DEMO_USERS = [
    ("admin@fxcrm.local", "admin"),
    ("compliance@fxcrm.local", "compliance"),
    ("finance@fxcrm.local", "finance"),
    ("finance2@fxcrm.local", "finance"),
    ("support@fxcrm.local", "support"),
    ("sales@fxcrm.local", "sales"),
    ("ibops@fxcrm.local", "ib_ops"),
]
DEMO_PARTNER = ("partner@fxcrm.local", "C000001")  # the demo's first IB (see journey())
DEMO_PASSWORD = "demo-password-1"
# The demo history covers the weeks before today, so its tasks fall due around today
# (some overdue, some not) whenever `fxcrm demo` runs.
DEMO_WEEKS = 5


def recent_history(seed: int, clients: int, now: datetime) -> Iterator[dict]:
    """Yield the demo broker's events of the last DEMO_WEEKS weeks, none later than `now`.

    Journeys still under way at `now` stop there (a trade still open, a document still
    to come), as they would in a broker's real history.
    """
    start = now - timedelta(weeks=DEMO_WEEKS)
    generator = BrokerGenerator(seed, start=start, span_days=DEMO_WEEKS * 7 - 1)
    cutoff = iso(now - timedelta(minutes=1))
    events = itertools.chain(generator.events(clients), generator.waiting_withdrawals())
    return (e for e in events if e["occurred_at"] <= cutoff)


def _create_logins(session) -> None:
    from engine.users import service as users

    for email, role in DEMO_USERS:
        if users.get_by_email(session, email) is None:
            users.create(session, email=email, role=role, password=DEMO_PASSWORD)
    email, ib_id = DEMO_PARTNER
    if users.get_by_email(session, email) is None:
        users.create(session, email=email, role="partner", password=DEMO_PASSWORD, ib_id=ib_id)


def logins_text() -> str:
    """Return the demo logins as `make run` prints them."""
    rows = [(email, role) for email, role in DEMO_USERS]
    rows.append((DEMO_PARTNER[0], f"partner (IB {DEMO_PARTNER[1]})"))
    return "\n".join(f"  {email:<26} {role:<22} password: {DEMO_PASSWORD}" for email, role in rows)


def load(database, *, clients: int = 40, seed: int = 7, now: datetime | None = None) -> str:
    """Create the demo staff logins and ingest a demo event history ending at `now`."""
    import json

    from engine.db import unit_of_work
    from engine.processing.ingest import ingest_lines
    from engine.values import utcnow

    with unit_of_work(database) as session:
        _create_logins(session)
    lines = (json.dumps(e) for e in recent_history(seed, clients, now or utcnow()))
    report = ingest_lines(database, lines, via="demo")
    wires = _demo_wires(database)
    _demo_unplaced_deal(database, now or utcnow())
    files = _demo_documents(database)
    client = _demo_portal_login(database)
    return (
        f"demo events: {report.summary()}\ndemo bank wires: {wires}\n"
        f"demo document files: {files}\ndemo logins:\n{logins_text()}\n"
        f"  client area (/portal/login): {client:<26} password: {DEMO_PASSWORD}"
    )


def _demo_portal_login(database) -> str:
    """Give one funded demo client a confirmed client-area login; return its e-mail."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from engine.clients.models import Client
    from engine.db import unit_of_work
    from engine.portal.models import ClientLogin
    from engine.values import utcnow

    with unit_of_work(database) as session:
        existing = session.scalar(select(ClientLogin.email).limit(1))
        if existing:
            return existing
        client = session.scalar(
            select(Client)
            .where(Client.email.is_not(None), Client.funnel_stage.in_(("funded", "account_opened", "first_trade")))
            .order_by(Client.ref)
            .limit(1)
        )
        if client is None:
            return "(no funded demo client)"
        now = utcnow()
        session.add(
            ClientLogin(
                client_ref=client.ref,
                email=client.email.lower(),
                created_at=now,
                email_verified_at=now,
                failed_logins=0,
                session_generation=1,
                password_hash=generate_password_hash(DEMO_PASSWORD, method="scrypt"),
            )
        )
        return client.email.lower()


def _demo_documents(database, clients: int = 3) -> int:
    """Give the documents of a few clients awaiting KYC their files, for the viewer."""
    from sqlalchemy import select

    from engine.clients.models import Client
    from engine.db import unit_of_work
    from engine.documents import samples, service
    from engine.documents.storage import store_for
    from engine.kyc.models import KycDocument
    from engine.processing.ingest import schedule_touched

    files = {
        "id": (samples.png(), "image/png", "identity-card.png"),
        "proof_of_address": (samples.pdf(), "application/pdf", "utility-bill.pdf"),
    }
    added = 0
    with unit_of_work(database) as session:
        docs = list(
            session.scalars(
                select(KycDocument)
                .where(KycDocument.state.in_(("submitted", "in_review")), KycDocument.document_type.in_(list(files)))
                .order_by(KycDocument.client_ref)
            )
        )
        refs = list(dict.fromkeys(d.client_ref for d in docs))[:clients]
        for doc in (d for d in docs if d.client_ref in refs):
            data, kind, name = files[doc.document_type]
            client = session.scalar(select(Client).where(Client.ref == doc.client_ref))
            added += service.receive(
                session,
                store_for(database.config),
                client=client,
                document_type=doc.document_type,
                data=data,
                declared_type=kind,
                file_name=name,
                actor="demo",
                source="staff",
                max_bytes=database.config.document_max_bytes,
                document_id=doc.document_id,
            ).created
        schedule_touched(session, database)
    return added


# One booked credit whose reference names no deposit request: finance matches it by hand.
DEMO_CAMT054 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
  <BkToCstmrDbtCdtNtfctn>
    <GrpHdr><MsgId>FXCRM-DEMO-WIRES-1</MsgId><CreDtTm>2026-10-28T18:00:00Z</CreDtTm></GrpHdr>
    <Ntfctn>
      <Id>DEMO-NTF-1</Id>
      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Ntry>
        <NtryRef>DEMO-E-1</NtryRef>
        <Amt Ccy="EUR">750.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2026-10-28</Dt></BookgDt>
        <AcctSvcrRef>DEMO-2026102800001</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <RltdPties><Dbtr><Pty><Nm>Demo Payer</Nm></Pty></Dbtr></RltdPties>
          <RmtInf><Ustrd>top-up for my account C000002</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
    </Ntfctn>
  </BkToCstmrDbtCdtNtfctn>
</Document>
"""


def _demo_wires(database) -> str:
    """Import the demo bank statement through the same path as `fxcrm connectors replay`."""
    from engine.deliveries.replay import replay_camt054
    from engine.values import utcnow

    return replay_camt054(database, DEMO_CAMT054.encode(), utcnow()).summary()


def _demo_unplaced_deal(database, now: datetime) -> None:
    """Keep one MT5 deal of a login no trading account has (as a poll would): the
    unmatched queue shows it with its finance task, ready to retry or drop."""
    from engine.db import unit_of_work
    from engine.deliveries.mt5_poll import Reading, keep_unplaced

    at = int((now - timedelta(hours=3)).timestamp() * 1000)
    record = {
        "Deal": 880017, "Login": 90017, "Action": 1, "Entry": 1, "PositionID": 880011, "Order": 880017,
        "Symbol": "EURUSD", "Volume": 5000, "VolumeExt": 50000000, "Price": 1.0842, "Profit": -37.5,
        "Commission": -2.5, "Storage": 0.0, "Comment": "", "Time": at // 1000, "TimeMsc": at,
    }  # fmt: skip
    reason = "deal 880017: login 90017 has no trading account"
    with unit_of_work(database) as session:
        keep_unplaced(session, Reading("", timedelta(0)), record, "deal:880017", reason)


def trading_history(
    seed: int, clients: int, total: int, *, start: datetime = DEMO_START, span_days: int = 7
) -> Iterator[dict]:
    """Yield a trades-heavy history: `clients` journeys, then later trading to `total`
    events, each closed trade followed by its account's balance update (benchmarks and
    the batch-equivalence tests)."""
    gen = BrokerGenerator(seed, start=start, span_days=span_days)
    rng = random.Random(seed + 1)
    opened: dict[str, str] = {}  # account -> when created (no snapshot before it)
    for event in gen.events(clients, total=total):
        yield event
        if event["type"] == "account.created":
            opened[event["data"]["account_id"]] = event["occurred_at"]
        if event["type"] == "trade.closed" and event["occurred_at"] >= opened.get(event["data"]["account_id"], "9"):
            balance = Decimal(rng.randint(0, 500_000)) / 100
            yield {
                "id": f"{event['id']}-bal",
                "type": "account.balance_updated",
                "source": event["source"],
                "occurred_at": event["occurred_at"],
                "client": event["client"],
                "data": {
                    "account_id": event["data"]["account_id"],
                    "balance": str(balance),
                    "equity": str(balance + Decimal(rng.randint(-5000, 5000)) / 100),
                },
            }
