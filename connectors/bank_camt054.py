"""ISO 20022 camt.054 (BankToCustomerDebitCreditNotification) import: booked credits.

A bad entry is reported with its line and element and never stops the good ones.
Matching a credit's reference to a deposit request needs the database and is done by
the caller; `deposit_event` builds the canonical event once it is matched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from connectors import _xml
from connectors._common import UTC, clip, currency_code, decimal_text, event, parse_time, to_decimal
from connectors.errors import MalformedPayload

NAME = "bank_camt054"
ERRORS = (MalformedPayload,)
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.054."
_NOT_PROVIDED = "NOTPROVIDED"  # the placeholder EndToEndId of unreferenced transfers


@dataclass(frozen=True)
class Credit:
    """One booked incoming payment."""

    id: str  # stable de-duplication key across files
    reference: str | None  # best matching reference: creditor ref, remittance, end-to-end id
    amount: Decimal
    currency: str
    booked_at: datetime  # a booking date (no time) is midnight UTC
    debtor_name: str | None
    entry_ref: str | None  # NtryRef, else AcctSvcrRef
    end_to_end_id: str | None
    remittance: tuple[str, ...]
    account: str | None
    line: int
    creditor_ref: str | None = None

    def references(self) -> list[str]:
        """Return every text a deposit reference may hide in, most specific first."""
        # Payers put the reference anywhere in free text, alone or among other words.
        found = [
            self.creditor_ref,
            *self.remittance,
            *(word for line in self.remittance for word in line.split()),
            self.end_to_end_id,
        ]
        return list(dict.fromkeys(ref for ref in found if ref))


@dataclass(frozen=True)
class Problem:
    """An entry that was not imported: where it is and why."""

    line: int
    element: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.element}: {self.reason}"


@dataclass(frozen=True)
class Notification:
    """What one file held: credits to match, entries skipped on purpose, bad entries."""

    message_id: str
    credits: list[Credit]
    skipped: list[Problem]
    errors: list[Problem]


class _EntryError(Exception):
    def __init__(self, node: _xml.Node, reason: str):
        super().__init__(reason)
        self.problem = Problem(node.line, node.name, reason)


def parse(data: bytes) -> Notification:
    """Parse a camt.054 file; file-level problems raise MalformedPayload."""
    root = _xml.parse(data)
    if root.name != "Document" or not root.ns.startswith(NAMESPACE_PREFIX):
        raise MalformedPayload(f"line {root.line}: not a camt.054 Document (namespace {root.ns[:80]!r})")
    body = root.find("BkToCstmrDbtCdtNtfctn")
    if body is None:
        raise MalformedPayload(f"line {root.line}: Document has no BkToCstmrDbtCdtNtfctn")
    message_id = body.text_at("GrpHdr/MsgId")
    if message_id is None:
        raise MalformedPayload(f"line {body.line}: GrpHdr/MsgId is missing")
    credits, skipped, errors = [], [], []
    for notification in body.find_all("Ntfctn"):
        account = notification.text_at("Acct/Id/IBAN") or notification.text_at("Acct/Id/Othr/Id")
        for entry in notification.find_all("Ntry"):
            try:
                reason = _skip_reason(entry)
                if reason:
                    skipped.append(Problem(entry.line, "Ntry", reason))
                else:
                    credits.extend(_credits(entry, account, message_id))
            except _EntryError as exc:
                errors.append(exc.problem)
    return Notification(message_id, credits, skipped, errors)


def _skip_reason(entry: _xml.Node) -> str | None:
    indicator = _required(entry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise _EntryError(entry.find("CdtDbtInd"), f"expected CRDT or DBIT, got {indicator!r}")
    # Sts holds the code itself up to version .08 and a Cd child from .09 on.
    status = entry.text_at("Sts/Cd") or entry.text_at("Sts")
    if indicator == "DBIT":
        return "debit entry"
    if status != "BOOK":
        return f"status {status or 'missing'}, not BOOK"
    if (entry.text_at("RvslInd") or "").lower() == "true":
        return "reversal entry"
    return None


def _required(node: _xml.Node, path: str) -> str:
    value = node.text_at(path)
    if value is None:
        raise _EntryError(node, f"{path} is missing")
    return value


def _credits(entry: _xml.Node, account: str | None, message_id: str) -> list[Credit]:
    amount, currency = _amount(entry)
    booked_at = _booked_at(entry)
    transactions = entry.find_all("NtryDtls/TxDtls")
    if len(transactions) <= 1:
        return [
            _credit(
                entry, transactions[0] if transactions else None, amount, currency, booked_at, account, message_id, ""
            )
        ]
    # A batch booking: one credit per transaction, each with its own amount.
    out = []
    for number, tx in enumerate(transactions, 1):
        tx_amount, tx_currency = _tx_amount(tx)
        out.append(_credit(entry, tx, tx_amount, tx_currency, booked_at, account, message_id, f"/{number}"))
    return out


def _amount(node: _xml.Node, path: str = "Amt") -> tuple[Decimal, str]:
    element = node.find(path)
    if element is None or not element.text:
        raise _EntryError(node, f"{path} is missing")
    try:
        amount = to_decimal(element.text, path)
        currency = currency_code(element.attrs.get("Ccy"), f"{path}@Ccy")
    except MalformedPayload as exc:
        raise _EntryError(element, exc.reason) from None
    if amount <= 0:
        raise _EntryError(element, f"amount must be positive, got {element.text!r}")
    return amount, currency


def _tx_amount(tx: _xml.Node) -> tuple[Decimal, str]:
    path = "Amt" if tx.find("Amt") is not None else "AmtDtls/TxAmt/Amt"
    return _amount(tx, path)


def _booked_at(entry: _xml.Node) -> datetime:
    stamp = entry.text_at("BookgDt/DtTm")
    if stamp is not None:
        try:
            return parse_time(stamp, "BookgDt/DtTm")
        except MalformedPayload as exc:
            raise _EntryError(entry.find("BookgDt/DtTm"), exc.reason) from None
    day = _required(entry, "BookgDt/Dt")
    try:
        return datetime.combine(date.fromisoformat(day), time(), UTC)
    except ValueError:
        raise _EntryError(entry.find("BookgDt/Dt"), f"not a date: {day[:20]!r}") from None


def _credit(entry, tx, amount, currency, booked_at, account, message_id, suffix) -> Credit:
    detail = tx or _xml.Node("", "TxDtls", entry.line)
    end_to_end = detail.text_at("Refs/EndToEndId")
    end_to_end = None if end_to_end == _NOT_PROVIDED else end_to_end
    remittance = tuple(n.text for n in detail.find_all("RmtInf/Ustrd") if n.text)
    creditor_ref = detail.text_at("RmtInf/Strd/CdtrRefInf/Ref")
    reference = creditor_ref or (" ".join(remittance) if remittance else None) or end_to_end
    entry_ref = entry.text_at("NtryRef") or entry.text_at("AcctSvcrRef")
    return Credit(
        id=_credit_id(entry, detail, account, message_id) + suffix,
        reference=reference,
        amount=amount,
        currency=currency,
        booked_at=booked_at,
        debtor_name=detail.text_at("RltdPties/Dbtr/Pty/Nm") or detail.text_at("RltdPties/Dbtr/Nm"),
        entry_ref=entry_ref,
        end_to_end_id=end_to_end,
        remittance=remittance,
        account=account,
        line=entry.line,
        creditor_ref=creditor_ref,
    )


def _credit_id(entry: _xml.Node, detail: _xml.Node, account: str | None, message_id: str) -> str:
    # The bank's own reference is unique per account; without one, fall back to the
    # transaction id and last to the entry's place in this message.
    bank_ref = (
        entry.text_at("AcctSvcrRef")
        or entry.text_at("NtryRef")
        or detail.text_at("Refs/AcctSvcrRef")
        or detail.text_at("Refs/TxId")
    )
    if bank_ref:
        return f"{account or '-'}:{bank_ref}"
    digest = hashlib.sha256(f"{message_id}\n{entry.line}".encode()).hexdigest()[:24]
    return f"{account or '-'}:msg-{digest}"


def deposit_event(
    credit: Credit, *, client: str, payment_id: str, provider: str = NAME, account_id: str | None = None
) -> dict:
    """Build the payment.deposit_completed event of a credit matched to a deposit request.

    `provider` and `payment_id` are those of the matched deposit request, so the
    completion lands on that deposit.
    """
    return event(
        NAME,
        "payment.deposit_completed",
        credit.id,
        credit.booked_at,
        client,
        {
            "payment_id": payment_id,
            "amount": decimal_text(credit.amount),
            "currency": credit.currency,
            "method": "bank_wire",
            "provider": provider,
            "reference": clip(credit.reference),
            "account_id": account_id,
        },
    )
